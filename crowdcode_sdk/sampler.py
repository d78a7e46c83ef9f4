"""The one viewport sampler: adapters offer what the person sees at any rate, observations leave
at most at the configured rate.

Editors report scrolling, cursor moves and terminal screens far faster than anyone reads them
(a held Ctrl-F, a ``cat`` of a large file); recording each report would flood the journal, and
recording on a fixed poll would cost CPU while nothing happens. So every adapter hands its raw
updates to a :class:`Sampler`, whose contract (docs/schema.md, "Observations") is:

* **rate**: per stream, at most one emission per interval (``1 / observe.rate_hz``);
* **leading and trailing**: an update after a quiet interval goes out at once; the last update
  of a burst always goes out, at most one interval after it was offered;
* **changes only**: a value equal to the stream's last emitted value is dropped (and
  :meth:`Session.observe` drops an observation equal to the last one recorded);
* **floods skip frames**: each stream holds one pending value, replaced by every newer offer, so
  memory does not grow with the update rate and the caller never waits for the journal;
* **no polling when idle**: the worker thread sleeps on a condition until an offer arrives, and
  otherwise only until the next stream is due.

Emission runs on the worker thread, so an editor's RPC thread or a terminal's reader thread only
takes a short lock in :meth:`Sampler.offer`. The clock is injectable: tests drive
:meth:`Sampler.run_due` with a fake clock and no thread at all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)

DEFAULT_RATE_HZ = 10.0

_NOTHING: Any = object()


@dataclass
class _Stream:
    pending: Any = _NOTHING
    last: Any = _NOTHING  # the last value emitted
    emitted_at: float = float("-inf")
    offers: int = 0
    emissions: int = 0
    skipped: int = 0  # offers replaced before they could be emitted


def _take_locked(state: _Stream, now: float) -> Any:
    """The stream's pending value if it changed (else ``_NOTHING``), now counted as emitted."""
    value, state.pending = state.pending, _NOTHING
    if value is _NOTHING or value == state.last:
        return _NOTHING
    state.last = value
    state.emitted_at = now
    state.emissions += 1
    return value


class Sampler(Generic[K]):
    """Rate-limits updates per stream into calls of ``emit(stream, value)``.

    ``emit`` runs on the sampler's worker thread (or the thread calling :meth:`run_due`); an
    exception in it is reported through ``on_problem`` and never stops the sampler.
    """

    def __init__(
        self,
        emit: Callable[[K, Any], None],
        *,
        rate_hz: float = DEFAULT_RATE_HZ,
        clock: Callable[[], float] = time.monotonic,
        on_problem: Callable[[str], None] = lambda message: None,
        name: str = "crowdcode-sampler",
    ) -> None:
        if rate_hz <= 0:
            raise ValueError(f"rate_hz must be positive, not {rate_hz}")
        self.interval = 1.0 / rate_hz
        self._emit = emit
        self._clock = clock
        self._on_problem = on_problem
        self._name = name
        self._streams: dict[K, _Stream] = {}
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._emitting = threading.Lock()  # one emission at a time, in offer order per stream

    # --- any thread ------------------------------------------------------------------------------

    def offer(self, stream: K, value: Any) -> None:
        """The latest state of ``stream``; replaces any value not yet emitted. Never blocks on
        emission: it takes one short lock, and wakes the worker only when the stream had nothing
        pending (under a flood, the worker is not woken per update)."""
        with self._wake:
            state = self._streams.get(stream)
            if state is None:
                state = self._streams[stream] = _Stream()
            state.offers += 1
            if state.pending is not _NOTHING:  # the worker already waits for this stream's turn
                state.skipped += 1
                state.pending = value
                return
            state.pending = value
            self._wake.notify()

    def stats(self, stream: K) -> dict[str, int]:
        """Counts for one stream: offers, emissions, and offers skipped under a flood."""
        with self._wake:
            state = self._streams.get(stream, _Stream())
            return {"offers": state.offers, "emissions": state.emissions, "skipped": state.skipped}

    def pending(self) -> int:
        """How many streams hold a value not yet emitted (at most one each)."""
        with self._wake:
            return sum(1 for state in self._streams.values() if state.pending is not _NOTHING)

    # --- emission --------------------------------------------------------------------------------

    def run_due(self, *, force: bool = False) -> float | None:
        """Emit every pending value whose stream is due (all of them with ``force``); returns when
        the next pending stream falls due, or ``None`` when nothing is pending."""
        with self._emitting:
            with self._wake:
                now = self._clock()
                due: list[tuple[K, Any]] = []
                for key, state in self._streams.items():
                    if force or now >= state.emitted_at + self.interval:
                        value = _take_locked(state, now)
                        if value is not _NOTHING:
                            due.append((key, value))
            for key, value in due:
                try:
                    self._emit(key, value)
                except Exception as exc:  # an adapter's bug must not stop the sampling of the rest
                    self._on_problem(f"observation of {key!r} failed: {exc!r}")
            with self._wake:
                return self._earliest_locked()

    def take(self, stream: K) -> Any | None:
        """The stream's pending value, taken now as if emitted (``None``: nothing pending, or
        unchanged): for a caller that must record it before something else, in order. It only
        takes the sampler's short lock, so it may be called with any other lock held."""
        with self._wake:
            state = self._streams.get(stream)
            value = _NOTHING if state is None else _take_locked(state, self._clock())
            return None if value is _NOTHING else value

    def forget(self, stream: K) -> None:
        """Drop the stream's pending and last values (panic: nothing shown before may reappear as
        "unchanged", and nothing pending may be emitted)."""
        with self._wake:
            self._streams.pop(stream, None)

    # --- the worker ------------------------------------------------------------------------------

    def start(self) -> Sampler[K]:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker and emit what is pending at once: the last state is always recorded."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None
        self.run_due(force=True)

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._closing:
                    return
                if self._earliest_locked() is None:
                    self._wake.wait()  # idle: no timeout, no polling
                    continue
            deadline = self.run_due()
            with self._wake:
                while not self._closing and deadline is not None and (wait := deadline - self._clock()) > 0:
                    self._wake.wait(timeout=wait)
                    deadline = self._earliest_locked()

    def _earliest_locked(self) -> float | None:
        """When the next pending stream falls due (``None``: nothing pending); under the lock."""
        deadlines = [s.emitted_at + self.interval for s in self._streams.values() if s.pending is not _NOTHING]
        return min(deadlines) if deadlines else None


__all__ = ["DEFAULT_RATE_HZ", "Sampler"]
