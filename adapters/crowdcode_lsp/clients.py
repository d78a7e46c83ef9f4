"""What the shim knows about particular LSP clients, from what they say in ``initialize``.

Two facts are not in the protocol itself:

- Some clients send positions in code points without negotiating ``positionEncoding``; the
  protocol then means UTF-16, and text after a character outside the Basic Multilingual Plane
  (an emoji) would land one unit off per such character. Emacs's lsp-mode (``clientInfo.name`` is
  ``"emacs"``) counts Emacs characters, which are code points: it is read as ``utf-32``.
- ``crowdcode/status`` is this project's own notification. Clients that do not know it show a
  warning for every one (lsp-mode: "Unknown notification"), so it goes only to clients that ask
  for it with ``initializationOptions.status = true`` (the VS Code extension, the test harness).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crowdcode_sdk.positions import Encoding

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
