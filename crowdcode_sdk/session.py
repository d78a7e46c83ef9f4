"""The session recorder: what adapters call to record actions and observations.

A :class:`Session` is one recording by one adapter instance. It owns ordering (a per-session
sequence that is never reused, not even after a panic), timing (epoch ms from a monotonic clock),
durable storage (the journal) and the session's live registration. It is thread-safe: several
threads of an adapter may record at once, and every event is journaled in sequence order.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import math
import os
import platform
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from . import panic as panic_button
from . import terminal_spools
from .clock import Clock, MachineTime
from .config import Config
from .errors import CrowdcodeError, SessionClosed
from .journal import JournalPolicy, JournalWriter, decoded, read_lines, segments, truncate_since
from .locations import Locations, install_identity, write_private_atomic
from .registry import Handler, LiveRegistration, live_sessions, request
from .sampler import Sampler
from .schema import (
    SCHEMA_VERSION,
    Action,
    EditorInfo,
    Event,
    Observation,
    Panic,
    Payload,
    RecordingGap,
    SessionEnd,
    SessionMetadata,
    SessionStart,
    Source,
    TerminalViewport,
    Viewport,
    WorkspaceInfo,
    WorkspaceSnapshot,
    decode_action,
    encode_event,
)
from .store import SESSION_FILE, SessionInfo, Store
from .terminal_casts import truncate_session_casts

_SEEN = "observation"  # the session sampler's one stream: what the person sees

Listener = Callable[[Event], None]
PanicHook = Callable[[int], None]


def sdk_version() -> str:
    from . import __version__

    return __version__


def new_session_id(now_ms: int) -> str:
    """32 hex digits, time-ordered (like UUIDv7) so that directory listings sort by start."""
    return f"{now_ms:012x}{secrets.token_hex(10)}"


@dataclass(frozen=True)
class PanicReport:
    cutoff: int
    presses: int
    removed: int
    sessions: int


class Session:
    """One recording. Use as a context manager, or call :meth:`close`."""

    def __init__(
        self,
        *,
        adapter: str,
        editor: EditorInfo | str,
        workspace: str | os.PathLike[str] | None = None,
        locations: Locations | None = None,
        config: Config | None = None,
        on_problem: Callable[[str], None] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.locations = locations or Locations.default()
        self.config = config or Config.load(self.locations)
        # An importer passes a clock it sets to each original timestamp (see clock.SetClock).
        self._clock = clock or Clock()
        start = self._clock.now_ms()
        self.id = new_session_id(start)
        self.workspace = Path(workspace).absolute() if workspace is not None else None
        self._on_problem = on_problem or (lambda message: None)
        if isinstance(editor, str):
            editor = EditorInfo(name=editor)
        self.directory = self.locations.sessions_dir / self.id
        try:
            self.metadata = self._metadata(adapter, editor, start)
            self._journal = self._open_journal()
        except OSError as exc:
            raise CrowdcodeError(f"cannot record into {self.directory}: {exc.strerror or exc}") from None
        self._write_session_file()
        self._lock = threading.RLock()  # re-entrant: a listener may record a follow-up event
        self._panic_lock = threading.RLock()  # see panic_lock
        self._sequence = 0
        self._count = 0
        self._last_observation: Observation | None = None
        self._latest_offered: Observation | None = None  # by sample(), from any thread
        self._observations: Sampler[str] | None = None  # started by the first sample()
        self._last_user: dict[str, int] = {}
        self._listeners: list[Listener] = []
        self._panic_hooks: list[PanicHook] = []
        self._controls: dict[str, Handler] = {}
        self._closed = False
        self._record_locked(SessionStart(metadata=self.metadata), start)
        self._registration: LiveRegistration | None = None
        try:
            self._registration = LiveRegistration(
                self.locations,
                self.id,
                {
                    "adapter": adapter,
                    "editor": editor.to_wire(),
                    "workspace": str(self.workspace) if self.workspace else None,
                    "startTime": start,
                    "directory": str(self.directory),
                },
                self._control,
            )
        except OSError as exc:  # recording still works; only `crowdcode panic/status` cannot reach it
            self._on_problem(f"live registration failed: {exc}")
        atexit.register(self.close, "exit")
        if self.config["upload.url"]:  # the uploader thread of this process (docs/privacy.md)
            from .upload.background import ensure_background

            ensure_background(self.locations, self.config, self._on_problem)

    def _metadata(self, adapter: str, editor: EditorInfo, start: int) -> SessionMetadata:
        return SessionMetadata(
            schema_version=SCHEMA_VERSION,
            session_id=self.id,
            start_time=start,
            adapter=adapter,
            editor=editor,
            sdk_version=sdk_version(),
            os=f"{platform.system().lower()}-{platform.machine()}",
            workspace=self._workspace_info(),
        )

    def _open_journal(self) -> JournalWriter:
        return JournalWriter(
            self.directory,
            JournalPolicy(
                fsync=self.config["journal.fsync"],
                flush_interval_ms=self.config["journal.flush_interval_ms"],
                segment_max_bytes=self.config["journal.segment_max_bytes"],
                segment_max_age_s=self.config["journal.segment_max_age_s"],
                max_buffered_events=self.config["journal.max_buffered_events"],
            ),
            on_problem=self._on_problem,
        )

    # --- recording -------------------------------------------------------------------------------

    def record(self, action: Action) -> Event:
        """Record an action now; returns the event with its sequence and timestamp."""
        return self._record(action)

    def record_wire(self, data: Any) -> Event:
        """Validate an action sent by an adapter as a JSON object and record it.

        Raises :class:`~crowdcode_sdk.errors.SchemaError` naming the bad field; the session is
        unaffected, so an adapter logs the error and goes on.
        """
        return self._record(decode_action(data))

    def observe(
        self, viewport: Viewport | None = None, active_terminal: TerminalViewport | None = None
    ) -> Event | None:
        """Record what the user sees; returns ``None`` (records nothing) when unchanged."""
        observation = Observation(viewport=viewport, active_terminal=active_terminal)
        with self._lock:
            return self._observe_locked(observation)

    def sample(self, viewport: Viewport | None = None, active_terminal: TerminalViewport | None = None) -> None:
        """What the person sees now, offered at any rate: recorded through the session's
        :class:`~crowdcode_sdk.sampler.Sampler` (at most ``observe.rate_hz`` a second, the last
        state of a burst always, only changes). Never waits for the journal. An observation still
        pending when an action is recorded is recorded first, so that sequence order stays the
        order in which the person saw and did things."""
        if self._closed:
            raise SessionClosed(f"session {self.id} is closed")
        observation = Observation(viewport=viewport, active_terminal=active_terminal)
        self._latest_offered = observation
        self._sampler().offer(_SEEN, observation)

    def _sampler(self) -> Sampler[str]:
        sampler = self._observations
        if sampler is None:
            with self._lock:
                if self._observations is None:
                    self._observations = Sampler(
                        self._observe_sampled,
                        rate_hz=self.config["observe.rate_hz"],
                        on_problem=self._on_problem,
                        name="crowdcode-observations",
                    ).start()
                sampler = self._observations
        return sampler

    def _observe_sampled(self, _stream: str, observation: Observation) -> None:
        """The sampler's emission. A value that is no longer the latest offered was overtaken
        (recorded ahead of an action, or dropped by a panic): the latest is recorded instead."""
        with self._lock:
            if not self._closed and observation == self._latest_offered:
                self._observe_locked(observation)

    def _observe_locked(self, observation: Observation) -> Event | None:
        if observation == self._last_observation:
            return None
        self._last_observation = observation
        return self._emit(observation)

    def snapshot(self, snapshot_id: str) -> Event:
        return self._record(WorkspaceSnapshot(snapshot_id=snapshot_id))

    @property
    def sequence(self) -> int:
        """The sequence of the latest event recorded."""
        return self._sequence

    def now_ms(self) -> int:
        """The session clock: epoch ms, never decreasing."""
        return self._clock.now_ms()

    def _record(self, payload: Payload) -> Event:
        with self._lock:
            if self._observations is not None and isinstance(payload, Action):
                pending = self._observations.take(_SEEN)
                if pending is not None and pending == self._latest_offered:
                    self._observe_locked(pending)
            return self._emit(payload)

    def _emit(self, payload: Payload) -> Event:
        """Record under the lock, first noting events the journal had to drop, if any."""
        if self._closed:
            raise SessionClosed(f"session {self.id} is closed")
        now = self._clock.now_ms()
        if self._journal.lost:
            lost = self._journal.take_lost()
            if lost:
                self._record_locked(RecordingGap(lost_events=lost, reason="the journal could not keep up"), now)
        return self._record_locked(payload, now)

    def _record_locked(self, payload: Payload, now: int) -> Event:
        self._sequence += 1
        event = Event(self._sequence, now, payload)
        self._journal.append(encode_event(event))
        self._count += 1
        if isinstance(payload, Action) and payload.source is Source.USER:
            self._last_user[payload.kind] = self._sequence
        for listener in self._listeners:
            try:
                listener(event)
            except Exception as exc:  # a listener's bug must not stop recording
                self._on_problem(f"listener failed: {exc!r}")
        return event

    def last_user_action(self, kinds: Iterable[str]) -> int:
        """The sequence of the person's latest action of one of ``kinds`` (0: none yet).

        Readers on other threads (the attribution engine asks whether the person acted since an
        agent's batch began) get a value that is at worst one event old, which is all they need.
        """
        return max((self._last_user.get(kind, 0) for kind in kinds), default=0)

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` with every event after it is recorded (on the recording thread)."""
        self._listeners.append(listener)

    # --- paths and identity ----------------------------------------------------------------------

    def relpath(self, path: str | os.PathLike[str]) -> str:
        """The form of a file path that goes into events: workspace-relative (POSIX) when inside
        the workspace, ``~/…`` under the home directory, else absolute."""
        p = Path(path)
        if not p.is_absolute():
            return PurePosixPath(*p.parts).as_posix()
        if self.workspace is not None:
            with contextlib.suppress(ValueError):
                return p.relative_to(self.workspace).as_posix()
        return anonymize_path(p)

    def _workspace_info(self) -> WorkspaceInfo | None:
        if self.workspace is None:
            return None
        salt = install_identity(self.locations).salt
        digest = hashlib.sha256(f"{salt}:{self.workspace}".encode()).hexdigest()[:16]
        return WorkspaceInfo(name=self.workspace.name, id=digest)

    def publish(self, **info: Any) -> None:
        """Add adapter facts (e.g. the foreground command) to this session's registry entry."""
        if self._registration is not None:
            self._registration.update(**info)

    # --- panic -----------------------------------------------------------------------------------

    def panic(self, *, everywhere: bool = True) -> PanicReport:
        """The panic button: remove the recent past (escalating per crowd-code's rule).

        With ``everywhere`` the press also reaches every other live session of this user, as the
        person pressing it expects; their events are removed by their own processes.
        """
        pressed = panic_button.press(self.locations, MachineTime.now())
        cutoff = self._timestamp_of(pressed.cutoff)
        removed = self.remove_since(cutoff)
        sessions = 1
        if everywhere:
            others, count = panic_others(self.locations, pressed.cutoff, exclude=self.id)
            removed += others
            sessions += count
            _drop_queued_bundles(self.locations, pressed.cutoff)
        return PanicReport(cutoff, pressed.presses, removed, sessions)

    def _timestamp_of(self, moment: MachineTime) -> int:
        """A moment on the machine's clock as this session's timestamp."""
        anchor = self._clock.anchor
        mapped = anchor.timestamp(moment) if anchor is not None else None
        if mapped is None:  # a clock set by hand (an import): the same distance back from its now
            mapped = self._clock.now_ms() - (MachineTime.now().monotonic_ms - moment.monotonic_ms)
        return mapped

    def remove_since(self, cutoff_ms: int) -> int:
        """Remove this session's events at or after ``cutoff_ms`` from memory and disk.

        The session start is never removed; a content-free ``panic`` marker records the gap and
        sequence numbers continue after it.
        """
        with self._panic_lock, self._lock:
            cutoff_ms = max(cutoff_ms, self.metadata.start_time + 1)
            # The gap ends at the cut, not after the hooks: they may take a while (rewriting a raw
            # stream), and what happens meanwhile is not removed.
            cut = self._clock.now_ms()
            removed = self._journal.remove_since(cutoff_ms)
            for hook in self._panic_hooks:
                try:
                    hook(cutoff_ms)
                except Exception as exc:
                    self._on_problem(f"panic hook failed: {exc!r}")
            self._last_observation = self._latest_offered = None
            if self._observations is not None:
                self._observations.forget(_SEEN)
            now = self._clock.now_ms()
            self._count -= removed
            self._record_locked(Panic(gap_start=cutoff_ms, gap_end=cut), now)
            self._journal.flush()
            return removed

    def add_panic_hook(self, hook: PanicHook) -> None:
        """Also remove an adapter's side data (raw streams, snapshots) on panic: ``hook(cutoff)``."""
        self._panic_hooks.append(hook)

    def add_control(self, op: str, handler: Handler) -> None:
        """Answer requests ``op`` from other processes on the control socket (``handler(message)``
        runs on the socket's thread and returns the reply)."""
        self._controls[op] = handler

    @property
    def panic_lock(self) -> threading.RLock:
        """Held by a panic from its cut to its marker, hooks included. An adapter that turns one
        input into several records (a raw stream, events, the screen) holds it around them, so
        that a panic comes before or after all of them, never between. It is taken before the
        session's own lock: take it before any lock of the adapter's that is held while recording.
        """
        return self._panic_lock

    # --- control ---------------------------------------------------------------------------------

    def _control(self, message: dict[str, Any]) -> dict[str, Any]:
        op = message.get("op")
        if op == "panic":
            cutoff = self._timestamp_of(MachineTime.from_wire(message["cutoff"]))
            return {"ok": True, "removed": self.remove_since(cutoff)}
        if op == "status":
            return {"ok": True, **self.status()}
        if op == "flush":
            self.flush()
            return {"ok": True}
        handler = self._controls.get(str(op))
        if handler is not None:
            return handler(message)
        return {"ok": False, "error": f"unknown op {op!r}"}

    def status(self) -> dict[str, Any]:
        return {
            "sessionId": self.id,
            "events": self._count,
            "lost": self._journal.lost,
            "problem": self._journal.problem,
        }

    # --- lifecycle -------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write buffered events now (they are written every flush interval anyway)."""
        self._journal.flush()

    def close(self, reason: str = "closed") -> None:
        if self._observations is not None:  # the last state seen comes before the end
            self._observations.close()
        with self._lock:
            if self._closed:
                return
            self._journal.flush()  # a disk that recovered lets the gap marker precede the end
            end = self._emit(SessionEnd(reason=reason))
            self._closed = True
        atexit.unregister(self.close)
        if self._registration is not None:
            self._registration.close()
        self._journal.close(before_unlock=lambda: self._write_session_file(end=end.timestamp, reason=reason))

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write_session_file(self, end: int | None = None, reason: str | None = None) -> None:
        data: dict[str, Any] = {"metadata": self.metadata.to_wire()}
        if self._clock.anchor is not None:  # local only: the uploader leaves it out (store.LOCAL_KEYS)
            data["clock"] = self._clock.anchor.to_wire()
        if end is not None:
            data.update(end=end, eventCount=self._count, endReason=reason)
        try:
            write_private_atomic(self.directory / SESSION_FILE, orjson.dumps(data))
        except OSError as exc:
            self._on_problem(f"cannot write {SESSION_FILE}: {exc}")


def anonymize_path(path: Path) -> str:
    """An absolute path as it may leave the machine: the home directory becomes ``~``."""
    home = Path.home()
    with contextlib.suppress(ValueError):
        rel = path.relative_to(home)
        return "~" if rel == Path(".") else f"~/{rel.as_posix()}"
    return path.as_posix()


def panic_others(locations: Locations, cutoff: MachineTime, exclude: str | None = None) -> tuple[int, int]:
    """Ask every live session (but ``exclude``) to remove events since ``cutoff``. A session that
    does not answer in time (stopped, busy) still gets the request, queued on its control socket:
    the moment it names is on the machine's clock, so it removes the same events when it wakes.

    Returns (events removed, sessions reached).
    """
    removed = reached = 0
    for entry in live_sessions(locations):
        if entry.get("sessionId") == exclude:
            continue
        try:
            answer = request(entry, "panic", cutoff=cutoff.to_wire())
        except (OSError, ValueError):
            continue
        if answer.get("ok"):
            removed += int(answer.get("removed", 0))
            reached += 1
    return removed, reached


def panic_everywhere(locations: Locations, now: MachineTime) -> PanicReport:
    """A press from outside any session (``crowdcode panic``): live sessions remove their own
    events; sessions that ended inside the reach are cut here, with a panic marker appended, each
    at the cutoff in its own timestamps (see :mod:`crowdcode_sdk.clock`)."""
    pressed = panic_button.press(locations, now)
    reach = panic_button.reach_ms(pressed.presses)
    removed, reached = panic_others(locations, pressed.cutoff)
    _drop_queued_bundles(locations, pressed.cutoff)
    for info in Store(locations).sessions():
        if info.live:
            continue
        cut = terminal_spools.remove_from_session(info.directory, _spool_cutoff_s(info, pressed.cutoff))
        at = info.now_ms(now)
        if info.end is not None and info.end >= at - reach:
            cut += _cut_closed_session(info.directory, max(at - reach, info.start + 1), at)
        if cut:
            removed += cut
            reached += 1
    return PanicReport(time.time_ns() // 1_000_000 - reach, pressed.presses, removed, reached)


def _spool_cutoff_s(info: SessionInfo, cutoff: MachineTime) -> float:
    """The cutoff on the clock of the spool's frames (the machine's monotonic clock, in s). A
    session of an earlier boot is older than this boot: reached only if the cutoff is too."""
    if info.anchor is not None and info.anchor.at.boot != cutoff.boot:
        return -math.inf if cutoff.monotonic_ms < 0 else math.inf
    return cutoff.monotonic_ms / 1000


def _drop_queued_bundles(locations: Locations, cutoff: MachineTime) -> None:
    """Bundles built but not yet sent may carry what a panic removed: they go too."""
    from .upload.queue import UploadQueue  # imported on a panic only: the uploader is no recording path

    with contextlib.suppress(OSError):
        UploadQueue(locations).drop_built_since(cutoff)


def _cut_closed_session(directory: Path, cutoff_ms: int, now_ms: int) -> int:
    last_sequence = 0
    for event in decoded(read_lines(directory)):
        last_sequence = max(last_sequence, event["sequence"])
    cast_lines = truncate_session_casts(directory, cutoff_ms)
    removed = truncate_since(directory, cutoff_ms)
    if not removed and not cast_lines:
        return 0
    marker = Event(last_sequence + 1, max(now_ms, cutoff_ms), Panic(gap_start=cutoff_ms, gap_end=now_ms))
    last = segments(directory)[-1]
    with open(last, "ab") as f:
        f.write(encode_event(marker) + b"\n")
        f.flush()
        os.fsync(f.fileno())
    session_file = directory / SESSION_FILE
    data = orjson.loads(session_file.read_bytes())
    data["eventCount"] = sum(1 for _ in read_lines(directory))
    data["end"] = marker.timestamp
    write_private_atomic(session_file, orjson.dumps(data))
    return removed + cast_lines
