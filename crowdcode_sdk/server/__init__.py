"""The ingest server (``crowdcode serve``): receives, validates and stores upload bundles."""

from .app import IngestServer, ServerConfig, serve_in_thread
from .storage import BundleStore

__all__ = ["BundleStore", "IngestServer", "ServerConfig", "serve_in_thread"]
