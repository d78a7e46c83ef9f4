"""The terminal's sampling: feeds the emulator, samples it through the core sampler (10 Hz by
default), watches the foreground program.

Output reaches it through a bounded backlog: several screenfuls of heavily styled text (32 bytes
a cell), at least 64 KiB. The emulator is slower than a flood (``cat`` of a large file), so when
the backlog exceeds its bound the oldest output is skipped: the screen is then rebuilt from what
follows, which for a flood of text is right again after one screenful, and the emulator spends a
fraction of the flood's CPU time (for a 105 MB flood at 80x24 this thread takes 0.05 s of CPU;
with a fixed 256 KiB bound it took 0.16 s: docs/benchmarks.md).
Samples are taken at the core sampler's rate, not per chunk — under a flood frames are skipped,
never queued — and only after something happened on the terminal, so an idle terminal (even a
full-screen program) costs nothing: its thread sleeps until the next frame.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from crowdcode_sdk import Position, Session, TerminalViewport
from crowdcode_sdk.sampler import DEFAULT_RATE_HZ, Sampler

from .agent_tracker import AgentTracker
from .commands import CommandTracker
from .foreground import ForegroundWatcher
from .marks import Mark
from .screen import Screen, ScreenState
from .start_position import move_to

EARLY_OUTPUT_BOUND = 64 << 10
"""Output kept until the start position is known, to be replayed from there (a shell's first
prompt is a few hundred bytes; a terminal that never answers stops the keeping here)."""


class _StartAt(tuple[int, int]):
    """Where the screen starts: the cursor on the user's terminal when the wrapper started."""


@dataclass(frozen=True, slots=True)
class _Output:
    """Output the program wrote at ``at`` (monotonic seconds, the wrapper's read)."""

    data: bytes
    at: float


@dataclass(frozen=True, slots=True)
class _Keys:
    """Keys typed at ``at`` (monotonic seconds), for the agent tracker."""

    text: str
    at: float


_Item = _Output | tuple[int, int] | Mark | _Keys | None


ACTIVE_S = 2.0
"""After a frame, the foreground program is sampled (and the agent tracker ticked) this long even
if nothing more arrives: a program started by Enter may take that long to have the terminal, and
the one it replaces may be silent. After that the sampler sleeps until the next frame."""


SEEN_INTERVALS = 2
"""A screen the terminal showed for this many sampling intervals of the output's own clock is
recorded, however late the sampler's thread ticks: a starved tick that feeds two pages of ``less``
at once samples the first before feeding the second. Sampling on the wall clock alone would record
only the second; two intervals rather than one, so that a tick on time never samples twice."""


class ScreenSampler:
    """The terminal's sampling, on the core :class:`~crowdcode_sdk.sampler.Sampler`: each frame
    offers one update of the ``screen`` stream; each emission (at most ``rate_hz`` a second, the
    last one after a burst always) is one tick: feed what arrived, sample the screen, the
    foreground program and the agent tracker, flush the cast."""

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
        rate_hz: float = DEFAULT_RATE_HZ,
        observe: bool = True,
        on_problem: Callable[[str], None] = lambda message: None,
        on_tick: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._screen = screen
        self._terminal_id = terminal_id
        self._terminal_name = terminal_name
        self._watcher = watcher
        self._commands = commands
        self._agents = agents
        self._max_backlog = backlog_bound(*size)
        self._observe = observe
        self._on_problem = on_problem
        self._on_tick = on_tick
        self._clock = clock
        # bytes: output; a tuple: a resize; None: forget the screen; a shell's mark and typed keys
        # for the agent tracker, in order with the output around them
        self._items: deque[_Item] = deque()
        self._early: bytearray | None = bytearray()  # output before the start position is known
        self._backlog = 0
        self._lock = threading.Lock()
        self._updates = 0  # the stream's value: every frame is a change to look at
        self._active_at = clock()
        self._sampler: Sampler[str] = Sampler(
            self._emit, rate_hz=rate_hz, clock=clock, on_problem=on_problem, name="crowdcode-screen"
        )
        self.skipped_bytes = 0
        self._forget_cutoff = 0
        self._seen_s = SEEN_INTERVALS / rate_hz
        self._unsampled_since: float | None = None  # the time of the first output fed since a sample
        self.last_state: ScreenState | None = None

    # called from the reader thread -------------------------------------------------------------

    def output(self, data: bytes, at: float) -> None:
        """Output written at ``at`` (monotonic seconds)."""
        if self._observe:  # screen observations off: no emulator work at all
            with self._lock:
                self._items.append(_Output(data, at))
                self._backlog += len(data)
                kept: list[_Item] = []  # marks and keys: the output around them may be skipped
                while self._backlog > self._max_backlog:
                    old = self._items.popleft()
                    if isinstance(old, (Mark, _Keys)):
                        kept.append(old)
                        continue
                    if not isinstance(old, _Output):  # keep resizes and resets
                        self._items.appendleft(old)
                        break
                    self._backlog -= len(old.data)
                    self.skipped_bytes += len(old.data)
                self._items.extendleft(reversed(kept))
        self.activity()

    def mark(self, mark: Mark) -> None:
        """A shell's mark, for the agent tracker in order with the output and keys around it."""
        with self._lock:
            self._items.append(mark)

    def keys(self, text: str, at: float) -> None:
        """Keys typed at ``at``, for the agent tracker. They reach it on this sampler's thread after
        the output that came before them is fed, so that a key submitting an agent's next prompt
        finds the previous answer on the screen, however far behind the recorder is (the screen is
        otherwise sampled on the wall clock, and a starved sampler would show the answer only
        after the keys that followed it)."""
        with self._lock:
            self._items.append(_Keys(text, at))
        self.activity()

    def resize(self, cols: int, rows: int) -> None:
        with self._lock:
            self._items.append((cols, rows))
            self._max_backlog = backlog_bound(cols, rows)
        self.activity()

    def start_at(self, position: tuple[int, int]) -> None:
        with self._lock:
            self._items.append(_StartAt(position))
        self.activity()

    def activity(self) -> None:
        """Something happened on the terminal (output, keys, a resize): sample soon."""
        with self._lock:
            self._active_at = self._clock()
            self._updates += 1
            updates = self._updates
        self._sampler.offer("screen", updates)

    def forget(self, cutoff_ms: int) -> None:
        """Panic: drop pending output and blank the screen, so no later frame shows the past.

        Called by the session's panic hook with the session locked: the work is done on the
        sampler's thread, which takes the locks in the usual order."""
        with self._lock:
            marks = [item for item in self._items if isinstance(item, Mark)]  # no content: kept
            self._items.clear()
            self._items.extend(marks)
            self._backlog = 0
            self._items.append(None)
            self._forget_cutoff = cutoff_ms
        self.activity()

    def start(self) -> None:
        """Sample the foreground program once on the caller's thread, then on the sampler's.
        The recorder starts after the user's program and says it is ready only after this: the
        keys the wrapper held meanwhile, handled at once, reach trackers that know whether an
        agent has the terminal (the sampler's first tick could come after the program has read
        them, answered and exited)."""
        self._tick(dirty=False)
        self._sampler.start()

    def stop(self) -> None:
        """Stop sampling; what arrived since the last tick is fed and sampled once more."""
        self._sampler.close()

    # the sampler's thread ----------------------------------------------------------------------

    def _emit(self, _stream: str, _updates: int) -> None:
        """One tick: feed what arrived (at most the backlog bound), then sample. Feeding on the
        tick rather than per chunk caps the emulator's work under a flood to one backlog per
        tick; what the user sees is sampled at the sampler's rate either way."""
        with self._lock:
            items = list(self._items)
            self._items.clear()
            self._backlog = 0
            active_at = self._active_at
        changed = fed = False
        for item in items:
            if isinstance(item, _Keys):
                sample = fed and self._agents.awaiting and "\r" in item.text  # may submit the next prompt
                self._type(item, sample=sample)
                fed = fed and not sample
                continue
            if isinstance(item, Mark):
                self._to_tracker(item)
                continue
            if isinstance(item, _Output) and self._seen_since(item.at):
                self._sample_fed()  # what the terminal showed long enough to be seen
            changed = fed = True
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
                self._screen.feed(item.data)
                if self._unsampled_since is None:
                    self._unsampled_since = item.at
                self._keep_early(item.data)
        now = self._tick(changed)
        self._unsampled_since = None
        if now - active_at < ACTIVE_S or self._agents.awaiting:
            with self._lock:
                self._updates += 1
                updates = self._updates
            self._sampler.offer("screen", updates)  # tick again one interval from now

    def _type(self, keys: _Keys, *, sample: bool) -> None:
        """Keys to the agent tracker, with the screen sampled first if ``sample``: as it was when
        they were typed, for keys that may submit a prompt (an Enter) while the last one awaits
        its response, after output the last sample has not seen; the tracker takes that response
        from it. Under the session's panic lock, as a sample is: keys taken before a panic and
        reached after it are dropped with the rest of what it removed."""
        with self._session.panic_lock:
            with self._lock:
                if None in self._items:
                    return
            if sample:
                self._sample_fed()
            self._agents.typed(keys.text, keys.at)

    def _to_tracker(self, mark: Mark) -> None:
        if mark.kind == "C":
            self._agents.command_started(mark.at)
        elif mark.kind == "D":
            self._agents.command_ended()
        elif mark.kind == "A":
            self._agents.prompt_shown()

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
        """Sample the foreground program, the screen if output arrived, the agent tracker;
        returns the time of the tick."""
        now = self._clock()
        try:
            if self._watcher is not None:
                now_ms = self._session.now_ms()
                current = self._watcher.poll(now_ms)
                self._commands.foreground(current, now_ms)
                # Read after the poll: keys typed before it may have gone to the program before
                # (``claude`` typed at the shell), and a thread starved between the two reads
                # must not hand them to the agent.
                self._agents.foreground(current, self._clock())
            if dirty:
                self._sample_screen(now)
            self._agents.tick(now)
            self._on_tick()
        except Exception as exc:  # a bug here must not stop the recording of everything else
            self._on_problem(f"screen sampling failed: {exc!r}")
        return now

    def _seen_since(self, at: float) -> bool:
        """Whether output fed but not sampled yet was on the terminal, by the output's clock, for
        ``SEEN_INTERVALS`` by ``at``."""
        return self._unsampled_since is not None and at - self._unsampled_since >= self._seen_s

    def _sample_fed(self) -> None:
        """Sample the screen as fed so far, before the rest of this tick's items."""
        self._sample_screen(self._clock())
        self._unsampled_since = None

    def _sample_screen(self, now: float) -> None:
        """Record the screen if it changed, unless a panic came since this tick took its output:
        that screen shows what the panic removed (the next tick blanks it). Under the session's
        panic lock, so that a panic falls before the check or after the record, not between."""
        with self._session.panic_lock:
            with self._lock:
                forgotten = None in self._items
            if forgotten:
                return
            state = self._screen.state()
            if state != self.last_state:
                self.last_state = state
                self._agents.screen(state, now)
                if self._observe:
                    self._session.observe(active_terminal=self.viewport(state))

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
