"""The recorder process: everything that is not pass-through.

It runs in its own process (asciinema 2.x does the same with its writer), so that neither the
emulator nor the journal ever competes with the pass-through loop for Python's GIL. It takes
frames from the channel — through a spool file, so that a flood is handled after it ends
(:mod:`.spool`) — and

* writes the lossless raw stream (:class:`~.asciicast.CastWriter`) and finds shell-integration
  marks on its reader thread;
* records typed input (answerbacks removed; hidden input never reaches this process) and resizes;
* hands output to the screen sampler (:class:`~.sampler.ScreenSampler`), which may skip.

When the pipe closes it finishes the session and writes one status line (JSON) on ``report_fd``
for the wrapper to turn into a message after the user's session.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from crowdcode_sdk import Config, EditorInfo, Locations, Session, TerminalFocus, TerminalInput, TerminalResize
from crowdcode_sdk.attribution.git import capture_root
from crowdcode_sdk.schema import Event, Panic, RecordingGap

from . import abandoned, channel, spool, start_position
from .agent_tracker import AgentTracker
from .asciicast import CastHeader, CastWriter
from .commands import CommandTracker
from .foreground import ForegroundWatcher
from .input_filter import typed
from .marks import MarkScanner
from .nested_panes import NestedPanes
from .recorder_spec import RecorderSpec
from .sampler import ScreenSampler
from .screen import AvtScreen
from .secret_prompt import SecretPrompt

if TYPE_CHECKING:
    from crowdcode_sdk.attribution.ownership import WorkspaceCapture


def run(spec: RecorderSpec, frames_fd: int, report_fd: int) -> None:
    """The recorder process's main; returns when the channel closes.

    ``report_fd`` gets ``{"ready": true}`` once frames are taken and the foreground program is
    sampled, one JSON line per problem as it happens, ``{"problem": text}``, and a closing line
    with what was lost: the wrapper reads what is there when the user's program ends, and does
    not wait for the rest (:func:`.app._read_report`)."""
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP, signal.SIGTSTP, signal.SIGWINCH):
        signal.signal(sig, signal.SIG_IGN)  # the session ends when the wrapper closes the channel

    def tell(line: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):  # the wrapper has gone: the session has the gaps
            os.write(report_fd, orjson.dumps(line) + b"\n")

    def problem(text: str) -> None:
        tell({"problem": text})

    report: dict[str, Any] = {}
    try:
        report = _record(spec, frames_fd, problem, lambda: tell({"ready": True}))
    except OSError as exc:  # the environment (a full disk, a file where a directory should be)
        problem(f"recorder failed: {exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
        report = {"failed": True}
    except Exception as exc:
        problem(f"recorder failed: {exc!r}")
        report = {"failed": True}
    tell(report)  # then exit: the wrapper's writes to the channel fail, and it counts them as lost


def _record(spec: RecorderSpec, frames_fd: int, on_problem: Any, on_ready: Any) -> dict[str, Any]:
    editor = EditorInfo(name=spec.terminal_name, host=spec.env.get("TERM_PROGRAM") or spec.env.get("TERM"))
    config = Config.load()
    root = capture_root(Path(spec.workspace)) if spec.workspace and config["shell.workspace"] else None
    session = Session(
        adapter="shell", editor=editor, workspace=root or spec.workspace, config=config, on_problem=on_problem
    )
    cast = CastWriter(
        cast_path(session.directory, spec.terminal_id),
        CastHeader(
            spec.cols, spec.rows, session.metadata.start_time, " ".join(spec.argv), spec.env, spec.start_monotonic
        ),
        spec.start_monotonic,
        on_gap=lambda lost: _disk_gap(session, lost),
    )
    session.add_panic_hook(cast.truncate_since)
    terminal = {"id": spec.terminal_id, "name": spec.terminal_name, "pid": spec.child_pid}
    session.publish(terminal={**terminal, "outer": spec.outer_terminal} if spec.outer_terminal else terminal)
    session.record(TerminalFocus(terminal_id=spec.terminal_id, terminal_name=spec.terminal_name))
    session.record(TerminalResize(terminal_id=spec.terminal_id, cols=spec.cols, rows=spec.rows))
    if spec.workspace:
        session.publish(cwd=spec.workspace)
    commands = CommandTracker(session, spec.terminal_id, spec.terminal_name, spec.shell)
    agents = AgentTracker(session, spec.terminal_id, spec.child_pid, shell=spec.shell)
    sampler = ScreenSampler(
        session,
        AvtScreen(spec.cols, spec.rows),
        spec.terminal_id,
        spec.terminal_name,
        watcher=ForegroundWatcher(spec.master, spec.child_pid, tuple(spec.argv)),
        commands=commands,
        agents=agents,
        observe=spec.observe_screen,
        size=(spec.cols, spec.rows),
        rate_hz=config["observe.rate_hz"],
        on_problem=on_problem,
        on_tick=cast.flush,
    )
    session.add_panic_hook(sampler.forget)
    capture = _capture(session, root, on_problem)
    frames = _FrameHandler(spec, session, cast, commands, agents, sampler)
    session.add_listener(frames.on_event)
    sampler.start()
    on_ready()  # the wrapper starts passing the terminal through
    flood = spool.Flood(time.monotonic())
    pumped = threading.Event()
    recovery = _recover_abandoned(on_problem, flood, pumped)
    failure: str | None = None

    def handle(frame: channel.Frame) -> None:
        nonlocal failure
        try:
            frames.handle(frame)
        except Exception as exc:  # one bad frame must not end the recording
            failure = failure or f"some terminal I/O could not be recorded: {exc!r}"

    the_spool = _open_spool(session.directory, spec.terminal_id)
    if the_spool is not None:

        def forget_spooled(cutoff: int) -> None:
            the_spool.remove_since(frames.monotonic_s(cutoff - 1))

        session.add_panic_hook(forget_spooled)
    try:
        spool.pump(frames_fd, the_spool, handle, on_problem, flood)
    finally:
        pumped.set()
        sampler.stop()
        recovery.join()
        if frames.status is None:
            frames.end_lost(time.monotonic())
        now = session.now_ms()
        commands.close(frames.status, now)
        agents.close(frames.status)
        cast.close()
        if capture is not None:
            capture.close()
        session.close("exit" if frames.status is not None else "wrapper ended")
    if failure:
        on_problem(failure)
    return {
        "sessionId": session.id,
        "directory": str(session.directory),
        "lostBytes": frames.lost + cast.lost_bytes,
        "castError": (cast.error.strerror or str(cast.error)) if cast.error else None,
        "screenSkippedBytes": sampler.skipped_bytes,
    }


RECOVERY_CALM_S = 1.0
"""How long this terminal's output must have been calm before spools left by dead recorders are
recovered."""


def _recover_abandoned(on_problem: Any, flood: spool.Flood, pumped: threading.Event) -> threading.Thread:
    """Spools left by recorders that died (:mod:`.abandoned`), recovered on a thread once this
    recorder is ready and its terminal's output has been calm for :data:`RECOVERY_CALM_S` (or the
    session has ended): recovering a flood's spool means encoding it all, seconds of CPU for
    100 MB, which on a 2-core machine would slow a flood in this terminal, and before ready the
    user's keys would wait. This session is live, so its own spool is never taken for one of them."""

    def recover() -> None:
        try:
            locations = Locations.default()
            if not abandoned.left(locations):
                return
            while not pumped.wait(0.1) and flood.calm_for(time.monotonic()) < RECOVERY_CALM_S:
                pass
            abandoned.recover_all(locations, on_problem)
        except Exception as exc:  # the session being recorded does not depend on it
            on_problem(f"spools left by recorders that died could not be recovered: {exc!r}")

    thread = threading.Thread(target=recover, name="spool-recovery", daemon=True)
    thread.start()
    return thread


def _disk_gap(session: Session, lost: int) -> None:
    session.record(RecordingGap(lost_events=0, reason=f"{lost} bytes of terminal I/O not recorded (disk full)"))


def _capture(session: Session, root: Path | None, on_problem: Any) -> WorkspaceCapture | None:
    if root is None:
        return None
    from crowdcode_sdk.attribution.ownership import WorkspaceCapture  # in a git working tree only

    try:
        return WorkspaceCapture(session, root)
    except Exception as exc:  # (inotify limits, an unreadable tree …) the terminal is still recorded
        on_problem(f"workspace capture failed: {exc}")
        return None


def _open_spool(directory: Path, terminal_id: str) -> spool.Spool | None:
    """The spool, or ``None`` (frames are then handled as they come) if it cannot be made."""
    try:
        return spool.Spool(directory / "terminals" / f"{terminal_id}.spool")
    except OSError:
        return None


class _FrameHandler:
    """What each kind of frame becomes."""

    def __init__(
        self,
        spec: RecorderSpec,
        session: Session,
        cast: CastWriter,
        commands: CommandTracker,
        agents: AgentTracker,
        sampler: ScreenSampler,
    ) -> None:
        self._terminal_id = spec.terminal_id
        self._session = session
        self._cast = cast
        self._commands = commands
        self._agents = agents
        self._sampler = sampler
        self._marks = MarkScanner(spec.nonce)
        self._panes = NestedPanes(spec.master, spec.terminal_id)
        self._secret = SecretPrompt()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # Frames carry the pass-through loop's monotonic time (one clock for both processes):
        # command times come from it, not from when this process got round to the frame.
        self._epoch_offset_ms = session.now_ms() - time.monotonic() * 1000
        self._forgotten: list[tuple[float, float]] = []  # panics: (cutoff, press), monotonic
        self.status: int | None = None
        self.lost = 0

    def on_event(self, event: Event) -> None:
        """Panic: frames from the marker's gap may still wait in the spool; drop them when they
        come. The gap ends at the cut, so what the loop sent while the panic's hooks ran is kept.
        Its times are whole milliseconds: widened by one on either side, rounding never keeps a
        frame of the gap. (Called on the panicking thread: a list append is atomic.)"""
        if isinstance(event.payload, Panic):
            start = self.monotonic_s(event.payload.gap_start - 1)
            end = self.monotonic_s(event.payload.gap_end + 1)
            self._forgotten.append((start, end))

    def monotonic_s(self, timestamp_ms: int) -> float:
        """A session timestamp on the frames' clock."""
        return (timestamp_ms - self._epoch_offset_ms) / 1000

    def _forgotten_at(self, at: float) -> bool:
        return any(start <= at <= end for start, end in self._forgotten)

    def handle(self, frame: channel.Frame) -> None:
        """Under the session's panic lock, so that a panic falls between two frames, never into
        one: a frame handled before the cut is removed by it (from the cast, the journal, the
        screen), one handled after it is checked against the gap."""
        with self._session.panic_lock:
            self._handle(frame)

    def _handle(self, frame: channel.Frame) -> None:
        kind, at, data = frame.kind, frame.time, frame.data
        if self._forgotten and kind in (channel.OUTPUT, channel.INPUT) and self._forgotten_at(at):
            return
        if kind == channel.OUTPUT:
            self._cast.output(at, data)
            for mark in self._marks.feed(data, at):
                self._commands.mark(mark, int(mark.at * 1000 + self._epoch_offset_ms))
                if mark.kind == "C":
                    self._agents.command_started(mark.at)
                elif mark.kind == "D":
                    self._agents.command_ended()
                elif mark.kind == "A":
                    self._agents.prompt_shown()
            self._sampler.output(data)
            self._secret.output(data)
        elif kind == channel.INPUT:
            self._sampler.activity()
            keys = typed(data)
            if not keys or self._secret.hidden(keys):
                return
            self._cast.input(at, keys)
            text = self._decoder.decode(keys)
            if text and not self._panes.own_the_input():
                self._session.record(TerminalInput(terminal_id=self._terminal_id, data=text))
                self._commands.typed(text)
                self._agents.typed(text, at)
        elif kind == channel.RESIZE:
            cols, rows = (int(n) for n in data.split(b"x"))
            self._cast.resize(at, cols, rows)
            self._session.record(TerminalResize(terminal_id=self._terminal_id, cols=cols, rows=rows))
            self._sampler.resize(cols, rows)
        elif kind == channel.GAP:
            missing = int.from_bytes(data, "little")
            self.lost += missing
            self._cast.marker(at, f"crowdcode: {missing} bytes not recorded")
            reason = f"{missing} bytes of terminal I/O not recorded"
            self._session.record(RecordingGap(lost_events=0, reason=reason))
        elif kind == channel.START:
            self._sampler.start_at(start_position.decode(data))
        elif kind == channel.EXIT:
            self.status = int(data)
            self._cast.exit(at, self.status)

    def end_lost(self, at: float) -> None:
        """The channel closed without the exit status, its last frame: the wrapper stopped
        waiting for this process (or died), and the end of the session's I/O never arrived. How
        much is not known here; the wrapper's closing line says it."""
        self._cast.marker(at, "crowdcode: the end of the terminal's I/O was not recorded")
        reason = "the end of the terminal's I/O did not reach the recorder"
        self._session.record(RecordingGap(lost_events=0, reason=reason))


def cast_path(directory: Path, terminal_id: str) -> Path:
    return directory / "terminals" / f"{terminal_id}.cast"
