"""Who changed what: save-time correlation of editor edits with the files on disk.

``Attribution(session, roots=[workspace])`` watches the workspace; editor adapters report open
documents and edits to it, terminal adapters only give it the workspace. See docs/attribution.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import attributes

if TYPE_CHECKING:
    from .engine import Attribution
    from .git import workspace_root

__all__ = ["Attribution", "workspace_root"]

_EXPORTS = {"Attribution": ".engine", "workspace_root": ".git"}
"""Loaded when first asked for: a terminal recorder outside a git working tree only asks
:mod:`.git` where the working tree is, and the engine (watchdog, the ignore rules, the
baselines) is a tenth of a CPU-second it then does not need."""


__getattr__ = attributes(__name__, _EXPORTS, globals())
