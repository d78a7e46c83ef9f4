"""The session a terminal is recorded into, and what each frame from the channel becomes there.

The recorder process (:mod:`.recorder`) imports this module, and builds a :class:`Recording`, only
once it has something to handle: the session, the schema, the emulator and the trackers are most of
its start-up, which a flood at the start would otherwise compete with (:mod:`.spool`).
"""

from __future__ import annotations

import codecs
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crowdcode_sdk import Config, EditorInfo, Locations, Session, TerminalFocus, TerminalInput, TerminalResize
from crowdcode_sdk import panic as panic_button
from crowdcode_sdk.attribution.git import capture_root
from crowdcode_sdk.clock import MachineTime
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


class Recording:
    """A terminal's session from its set-up to its end: frames in, a report out."""

    def __init__(
        self,
        spec: RecorderSpec,
        the_spool: spool.Spool | None,
        flood: spool.Flood,
        pumped: threading.Event,
        progress: spool.Progress,
        on_problem: Any,
        on_ready: Any,
    ) -> None:
        editor = EditorInfo(name=spec.terminal_name, host=spec.env.get("TERM_PROGRAM") or spec.env.get("TERM"))
        config = Config.load()
        root = capture_root(Path(spec.workspace)) if spec.workspace and config["shell.workspace"] else None
        session = Session(
            adapter="shell", editor=editor, workspace=root or spec.workspace, config=config, on_problem=on_problem
        )
        # The cast's time 0 is the wrapper's start, which the session may have followed by seconds
        started_ms = session.now_ms() - round((time.monotonic() - spec.start_monotonic) * 1000)
        cast = CastWriter(
            cast_path(session.directory, spec.terminal_id),
            CastHeader(spec.cols, spec.rows, started_ms, " ".join(spec.argv), spec.env, spec.start_monotonic),
            spec.start_monotonic,
            on_gap=lambda lost: _disk_gap(session, lost),
        )
        session.add_panic_hook(cast.truncate_since)
        session.record(TerminalFocus(terminal_id=spec.terminal_id, terminal_name=spec.terminal_name))
        session.record(TerminalResize(terminal_id=spec.terminal_id, cols=spec.cols, rows=spec.rows))
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
        self._frames = frames = _FrameHandler(spec, session, cast, commands, sampler)
        session.add_listener(frames.on_event)
        # Answered before the registry shows a terminal here: a workspace's owner asks each terminal
        # on it before deciding who changed a file, and takes one that does not know the question
        # for a program that cannot answer. Until its frames are handled, this one is behind.
        session.add_control("caught_up", lambda message: frames.caught_up(message, progress))
        terminal = {"id": spec.terminal_id, "name": spec.terminal_name, "pid": spec.child_pid}
        session.publish(terminal={**terminal, "outer": spec.outer_terminal} if spec.outer_terminal else terminal)
        if spec.workspace:
            session.publish(cwd=spec.workspace)
        self._capture = _capture(session, root, on_problem)
        _forget_earlier_press(frames, spec.start_monotonic, session.locations)
        if the_spool is not None:
            _name_spool(the_spool, session.directory / "terminals" / f"{spec.terminal_id}.spool")

            def forget_spooled(cutoff: int) -> None:
                the_spool.remove_since(frames.monotonic_s(cutoff - 1))

            session.add_panic_hook(forget_spooled)
        sampler.start()
        on_ready()  # the wrapper passes the user's keys on
        self._recovery = _recover_abandoned(on_problem, flood, pumped)
        self._session = session
        self._cast = cast
        self._commands = commands
        self._agents = agents
        self._sampler = sampler
        self._on_problem = on_problem
        self._failure: str | None = None

    def handle(self, frame: channel.Frame) -> None:
        try:
            self._frames.handle(frame)
        except Exception as exc:  # one bad frame must not end the recording
            self._failure = self._failure or f"some terminal I/O could not be recorded: {exc!r}"

    def close(self) -> dict[str, Any]:
        """End the session (the channel has closed, or the recorder fails); what the wrapper is told."""
        frames, session = self._frames, self._session
        self._sampler.stop()
        self._recovery.join()
        if frames.status is None:
            frames.end_lost(time.monotonic())
        self._commands.close(frames.status, session.now_ms())
        self._agents.close(frames.status)
        self._cast.close()
        if self._capture is not None:
            self._capture.close()
        session.close("exit" if frames.status is not None else "wrapper ended")
        if self._failure:
            self._on_problem(self._failure)
        return {
            "sessionId": session.id,
            "directory": str(session.directory),
            "lostBytes": frames.lost + self._cast.lost_bytes,
            "castError": (self._cast.error.strerror or str(self._cast.error)) if self._cast.error else None,
            "screenSkippedBytes": self._sampler.skipped_bytes,
        }


def _forget_earlier_press(frames: _FrameHandler, start_s: float, locations: Locations) -> None:
    """A panic pressed after the wrapper started, while this session did not exist yet, did not
    reach it: the frames of its reach, still in the spool, are skipped. A press reaches at least
    10 s back, further than a session's set-up is deferred, so the last press is the one that
    matters."""
    pressed = panic_button.last_press(locations)
    if pressed is not None and pressed.at.boot == MachineTime.now().boot and pressed.at.monotonic_ms >= start_s * 1000:
        frames.forget(pressed.cutoff.monotonic_ms / 1000, pressed.at.monotonic_ms / 1000)


def _name_spool(the_spool: spool.Spool, path: Path) -> None:
    """In the session's directory, where :mod:`.abandoned` finds it if this recorder dies."""
    try:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        the_spool.name(path)
    except OSError:  # (no /proc, a file system without O_TMPFILE) only a dead recorder's frames are lost
        pass


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


class _FrameHandler:
    """What each kind of frame becomes."""

    def __init__(
        self,
        spec: RecorderSpec,
        session: Session,
        cast: CastWriter,
        commands: CommandTracker,
        sampler: ScreenSampler,
    ) -> None:
        self._terminal_id = spec.terminal_id
        self._session = session
        self._cast = cast
        self._commands = commands
        self._sampler = sampler
        self._marks = MarkScanner(spec.nonce)
        self._master = spec.master
        self._panes = NestedPanes(spec.master, spec.terminal_id)
        self._secret = SecretPrompt()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # Frames carry the pass-through loop's monotonic time (one clock for both processes):
        # command times come from it, not from when this process got round to the frame.
        self._epoch_offset_ms = session.now_ms() - time.monotonic() * 1000
        self._forgotten: list[tuple[float, float]] = []  # panics: (cutoff, press), monotonic
        self.status: int | None = None
        self.lost = 0
        self.handled_to = 0.0
        """The time of the last frame handled."""

    def on_event(self, event: Event) -> None:
        """Panic: frames from the marker's gap may still wait in the spool; drop them when they
        come. The gap ends at the cut, so what the loop sent while the panic's hooks ran is kept.
        Its times are whole milliseconds: widened by one on either side, rounding never keeps a
        frame of the gap. (Called on the panicking thread: a list append is atomic.)"""
        if isinstance(event.payload, Panic):
            self.forget(self.monotonic_s(event.payload.gap_start - 1), self.monotonic_s(event.payload.gap_end + 1))

    def forget(self, start_s: float, end_s: float) -> None:
        """Skip the output and input frames stamped from ``start_s`` to ``end_s`` when they come."""
        self._forgotten.append((start_s, end_s))

    def monotonic_s(self, timestamp_ms: int) -> float:
        """A session timestamp on the frames' clock."""
        return (timestamp_ms - self._epoch_offset_ms) / 1000

    def caught_up(self, message: dict[str, Any], progress: spool.Progress) -> dict[str, Any]:
        """The owner's question, on the session's control thread, before it decides who changed a
        file (:mod:`crowdcode_sdk.attribution.evidence`): has every frame from before ``moment``
        (epoch ms) been handled, so that the commands this terminal ran until then are published?
        Yes once a frame from then on has been, or when nothing waits to be handled: not in the
        channel, nor in the PTY for the wrapper to read."""
        moment = self.monotonic_s(int(message.get("moment") or 0))
        drained = progress.drained()
        done = self.handled_to >= moment or drained is None or (drained and not channel.unread(self._master))
        return {"ok": True, "caughtUp": done}

    def _forgotten_at(self, at: float) -> bool:
        return any(start <= at <= end for start, end in self._forgotten)

    def handle(self, frame: channel.Frame) -> None:
        """Under the session's panic lock, so that a panic falls between two frames, never into
        one: a frame handled before the cut is removed by it (from the cast, the journal, the
        screen), one handled after it is checked against the gap."""
        with self._session.panic_lock:
            try:
                self._handle(frame)
            finally:
                self.handled_to = frame.time

    def _handle(self, frame: channel.Frame) -> None:
        kind, at, data = frame.kind, frame.time, frame.data
        if self._forgotten and kind in (channel.OUTPUT, channel.INPUT) and self._forgotten_at(at):
            return
        if kind == channel.OUTPUT:
            self._cast.output(at, data)
            for mark in self._marks.feed(data, at):
                self._commands.mark(mark, int(mark.at * 1000 + self._epoch_offset_ms))
                self._sampler.mark(mark)
            self._sampler.output(data, at)
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
                self._sampler.keys(text, at)
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
