"""Who changed what: save-time correlation of editor edits with the files on disk.

``Attribution(session, roots=[workspace])`` watches the workspace; editor adapters report open
documents and edits to it, terminal adapters only give it the workspace. See docs/attribution.md.
"""

from __future__ import annotations

from .engine import Attribution
from .git import workspace_root

__all__ = ["Attribution", "workspace_root"]
