"""A barrier in an editor's event stream: has everything the editor did before a moment arrived?

A write reaches the engine through inotify; the editor's edits and save hint that explain it come
through the adapter, which on a busy machine can be seconds behind. Waiting a fixed time for them
turns the person's saves into other programs' changes whenever the machine is slower than that
time. An editor whose events arrive in the order it made them can instead be asked to send a token
back through that same stream: once the token is back, every event the editor made before it
received the request (its save hint for a write already on disk included) has arrived too, and
whatever has not arrived never will.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable


class Barrier:
    """``request(token)`` asks the editor to send ``token`` back after all it has sent so far; it
    must not block. The adapter reports each token that comes back with :meth:`returned`. Callers
    serialise access (the engine's lock)."""

    def __init__(self, request: Callable[[int], None]) -> None:
        self._request = request
        self._tokens = itertools.count(1)
        self._asked: dict[int, int] = {}
        """Tokens on their way, with the time (epoch ms) each was asked for."""
        self._passed = 0
        """When the latest token that came back was asked for: the stream is complete up to then."""

    def passed(self, moment: int, now: int) -> bool:
        """Whether the stream has caught up with ``moment`` (epoch ms). If not, a token is asked
        for now, unless one asked for since ``moment`` is already on its way."""
        if self._passed >= moment:
            return True
        if not any(asked >= moment for asked in self._asked.values()):
            token = next(self._tokens)
            self._asked[token] = now
            self._request(token)
        return False

    def returned(self, token: int) -> None:
        """``token`` came back: so have all asked for before it (the stream is ordered)."""
        asked = self._asked.get(token)
        if asked is None:
            return  # not ours (a recorder restarted meanwhile) or already counted
        self._passed = max(self._passed, asked)
        self._asked = {t: at for t, at in self._asked.items() if t > token}


__all__ = ["Barrier"]
