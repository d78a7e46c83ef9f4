"""The screen thread: feeds the emulator, samples it at 10 Hz, watches the foreground program.

Output reaches it through a bounded backlog: several screenfuls of heavily styled text (32 bytes
a cell), at least 64 KiB. The emulator is slower than a flood (``cat`` of a large file), so when
the backlog exceeds its bound the oldest output is skipped: the screen is then rebuilt from what
follows, which for a flood of text is right again after one screenful, and the emulator spends a
fraction of the flood's CPU time (for a 105 MB flood at 80x24 this thread takes 0.05 s of CPU;
with a fixed 256 KiB bound it took 0.16 s: docs/benchmarks.md).
Samples are taken on a clock, not per chunk — under a flood frames are skipped, never queued —
and only when output arrived since the last one, so an idle full-screen program costs nothing.
The clock stops while the shell waits at its prompt (no output for ``QUIET_AFTER_S``, no program
in the foreground, no agent): the thread sleeps until output, a resize or the end wakes it, so an
idle terminal costs no CPU at all. A command always wakes it (the shell echoes the line that
starts it, then the clock runs while its program has the terminal).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from crowdcode_sdk import Position, Session, TerminalViewport

from .agent_tracker import AgentTracker
from .commands import CommandTracker
from .foreground import ForegroundWatcher
from .screen import Screen, ScreenState
from .start_position import move_to

QUIET_AFTER_S = 1.0
"""The clock stops this long after the last output at the earliest: a command's program takes the
terminal a moment after the shell's last output (the echoed line, its start mark)."""

EARLY_OUTPUT_BOUND = 64 << 10
"""Output kept until the start position is known, to be replayed from there (a shell's first
prompt is a few hundred bytes; a terminal that never answers stops the keeping here)."""


class _StartAt(tuple[int, int]):
    """Where the screen starts: the cursor on the user's terminal when the wrapper started."""


class ScreenSampler(threading.Thread):
    def __init__(
        self,
        session: Session,
        screen: Screen,
        terminal_id: str,
        terminal_name: str,
        *,
        watcher: ForegroundWatcher | None,
        commands: CommandTracker,
        agents: AgentTracker,
        size: tuple[int, int],
        interval: float = 0.1,
        observe: bool = True,
        on_problem: Callable[[str], None] = lambda message: None,
        on_tick: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name="crowdcode-screen", daemon=True)
        self._session = session
        self._screen = screen
        self._terminal_id = terminal_id
        self._terminal_name = terminal_name
        self._watcher = watcher
        self._commands = commands
        self._agents = agents
        self._interval = interval
        self._max_backlog = backlog_bound(*size)
        self._observe = observe
        self._on_problem = on_problem
        self._on_tick = on_tick
        self._clock = clock
        # bytes: output; a tuple: a resize; None: forget the screen
        self._items: deque[bytes | tuple[int, int] | None] = deque()
        self._early: bytearray | None = bytearray()  # output before the start position is known
        self._backlog = 0
        self._wake = threading.Condition()
        self._sleeping = False
        self._nudged = False
        self._stopping = False
        self.skipped_bytes = 0
        self._forget_cutoff = 0
        self.last_state: ScreenState | None = None

    # called from the reader thread -------------------------------------------------------------

    def output(self, data: bytes) -> None:
        with self._wake:
            self._nudge()
            if not self._observe:  # screen observations off: no emulator work at all
                return
            self._items.append(data)
            self._backlog += len(data)
            while self._backlog > self._max_backlog:
                old = self._items.popleft()
                if not isinstance(old, bytes):  # keep resizes and resets
                    self._items.appendleft(old)
                    break
                self._backlog -= len(old)
                self.skipped_bytes += len(old)

    def resize(self, cols: int, rows: int) -> None:
        with self._wake:
            self._nudge()
            self._items.append((cols, rows))
            self._max_backlog = backlog_bound(cols, rows)

    def start_at(self, position: tuple[int, int]) -> None:
        with self._wake:
            self._nudge()
            self._items.append(_StartAt(position))

    def forget(self, cutoff_ms: int) -> None:
        """Panic: drop pending output and blank the screen, so no later frame shows the past.

        Called by the session's panic hook with the session locked: the work is done on this
        thread, which takes the locks in the usual order."""
        with self._wake:
            self._nudge()
            self._items.clear()
            self._backlog = 0
            self._items.append(None)
            self._forget_cutoff = cutoff_ms

    def _nudge(self) -> None:
        """Something happened; wake the thread if it sleeps (the caller holds ``_wake``)."""
        self._nudged = True
        if self._sleeping:
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self.join(timeout=5)

    # the thread --------------------------------------------------------------------------------

    def run(self) -> None:
        """Once per tick: feed what arrived (at most the backlog bound), then sample. Feeding on
        the tick rather than per chunk caps the emulator's work under a flood to one backlog per
        tick; what the user sees is sampled at 10 Hz either way."""
        next_tick: float | None = self._clock()
        active_at = self._clock()
        while True:
            with self._wake:
                if next_tick is None:  # quiet: sleep until something happens
                    self._sleeping = True
                    while not self._stopping and not self._nudged:
                        self._wake.wait()
                    self._sleeping = False
                while not self._stopping and next_tick is not None and (wait := next_tick - self._clock()) > 0:
                    self._wake.wait(timeout=wait)
                active, self._nudged = self._nudged, False
                items = list(self._items)
                self._items.clear()
                self._backlog = 0
                stopping = self._stopping
            dirty = False
            for item in items:
                dirty = True
                if item is None:
                    self._screen.reset()
                    self.last_state = None
                    self._agents.forget()
                    self._commands.forget_since(self._forget_cutoff)
                    self._early = None
                elif isinstance(item, _StartAt):
                    self._start_at(item)
                elif isinstance(item, tuple):
                    self._screen.resize(*item)
                else:
                    self._screen.feed(item)
                    self._keep_early(item)
            next_tick = max(self._tick(dirty), self._clock())
            if active:
                active_at = self._clock()
            elif self._clock() - active_at >= QUIET_AFTER_S and self._quiet():
                next_tick = None
            if stopping:
                return

    def _quiet(self) -> bool:
        """Nothing changes unless output comes: the shell has the terminal and no agent waits."""
        return (self._watcher is None or not self._watcher.running) and self._agents.quiet

    def _keep_early(self, data: bytes) -> None:
        if self._early is not None:
            self._early += data
            if len(self._early) > EARLY_OUTPUT_BOUND:
                self._early = None

    def _start_at(self, position: tuple[int, int]) -> None:
        """Redraw what was shown so far from the start position (the answer to the wrapper's
        question arrives after the child's first output, often)."""
        if self._early is None:
            return
        early, self._early = bytes(self._early), None
        self._screen.reset()
        self._screen.feed(move_to(position) + early)

    def _tick(self, dirty: bool) -> float:
        now = self._clock()
        try:
            if self._watcher is not None:
                now_ms = self._session.now_ms()
                current = self._watcher.poll(now_ms)
                self._commands.foreground(current, now_ms)
                self._agents.foreground(current, now)
            if dirty:
                state = self._screen.state()
                if state != self.last_state:
                    self.last_state = state
                    self._agents.screen(state, now)
                    if self._observe:
                        self._session.observe(active_terminal=self.viewport(state))
            self._agents.tick(now)
            self._on_tick()
        except Exception as exc:  # a bug here must not stop the recording of everything else
            self._on_problem(f"screen sampling failed: {exc!r}")
        return now + self._interval

    def viewport(self, state: ScreenState) -> TerminalViewport:
        row, col = state.cursor
        return TerminalViewport(
            id=self._terminal_id,
            name=self._terminal_name,
            viewport=state.lines,
            cursor=Position(line=row, character=col),
            cols=state.cols,
            rows=state.rows,
            alternate_screen=state.alternate,
        )


def backlog_bound(cols: int, rows: int) -> int:
    """How much unfed output the screen thread keeps for a screen of this size."""
    return max(64 << 10, 32 * cols * rows)
