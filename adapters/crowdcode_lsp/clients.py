"""What the shim knows about particular LSP clients, from what they say in ``initialize``.

Two facts are not in the protocol itself:

- Some clients send positions in code points without negotiating ``positionEncoding``; the
  protocol then means UTF-16, and text after a character outside the Basic Multilingual Plane
  (an emoji) would land one unit off per such character. Emacs's lsp-mode (``clientInfo.name`` is
  ``"emacs"``) counts Emacs characters, which are code points: it is read as ``utf-32``.
- ``crowdcode/status`` is this project's own notification. Clients that do not know it show a
  warning for every one (lsp-mode: "Unknown notification"), so it goes only to clients that ask
  for it with ``initializationOptions.status = true`` (the VS Code extension, the test harness).
  ``initializationOptions.visibleRanges = true`` says the client reports what each editor shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crowdcode_sdk.positions import Encoding
from crowdcode_sdk.schema import EditorInfo

from .documents import file_path
from .params import field, items

CODE_POINT_CLIENTS = frozenset({"emacs"})
"""``clientInfo.name`` of clients known to count code points without saying so (lsp-mode)."""


def position_encoding(negotiated: Encoding, offered: Sequence[str] | None, client_name: str | None) -> Encoding:
    """The encoding the client's positions are really in: the negotiated one, unless the client
    offered none and is known to count code points."""
    if not offered and client_name in CODE_POINT_CLIENTS:
        return Encoding.UTF32
    return negotiated


def wants_status(options: dict[str, Any]) -> bool:
    """Whether the client asked for ``crowdcode/status`` notifications."""
    return options.get("status") is True


def reports_views(options: dict[str, Any]) -> bool:
    """Whether the client says it sends ``crowdcode/visibleRanges`` for each editor it focuses
    (``initializationOptions.visibleRanges = true``, the VS Code extension): then the recorder
    waits for them rather than record the cursor's line as the view."""
    return options.get("visibleRanges") is True


@dataclass(frozen=True)
class Opening:
    """What a client's ``initialize`` says that the session is made of."""

    editor: EditorInfo
    roots: list[Path]
    options: dict[str, Any]
    """``initializationOptions`` (``{}`` when absent or not an object)."""


def opening(params: Any) -> Opening:
    """The editor (``clientInfo`` and ``initializationOptions.host``) and the workspace roots
    (``workspaceFolders``, else ``rootUri``, else ``rootPath``) of ``initialize``'s params as JSON.
    Raises :class:`~crowdcode_lsp.params.BadParams` naming a field of the wrong type."""
    options = params.get("initializationOptions") if isinstance(params, dict) else None
    options = options if isinstance(options, dict) else {}
    client = field(params, "clientInfo", dict, optional=True)
    host = options.get("host")
    editor = EditorInfo(
        name=field(client, "name", str, path="clientInfo") if client is not None else "unknown",
        version=field(client, "version", str, optional=True, path="clientInfo") if client is not None else None,
        host=host if isinstance(host, str) else None,
    )
    folders = items(params, "workspaceFolders") if params.get("workspaceFolders") is not None else []
    roots = [p for p in (file_path(field(folder, "uri", str, path=where)) for where, folder in folders) if p]
    if not roots and (root := (uri := field(params, "rootUri", str, optional=True)) and file_path(uri)):
        roots = [root]
    if not roots and (root_path := field(params, "rootPath", str, optional=True)):
        roots = [Path(root_path).absolute()]
    return Opening(editor, roots, options)
