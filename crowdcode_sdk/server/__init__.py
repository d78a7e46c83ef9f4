"""The ingest server (``crowdcode serve``): receives, validates and stores upload bundles.

Needs the ``server`` extra (``pip install 'crowdcode[server]'``): Starlette, uvicorn, fsspec,
prometheus_client. Nothing in the core imports this package.
"""

from .ingest import ApiError, Ingest, ServerConfig
from .serve import RunningServer
from .storage import BundleStore

__all__ = ["ApiError", "BundleStore", "Ingest", "RunningServer", "ServerConfig"]
