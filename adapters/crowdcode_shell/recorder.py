"""The recorder process: everything that is not pass-through.

It runs in its own process (asciinema 2.x does the same with its writer), so that neither the
emulator nor the journal ever competes with the pass-through loop for Python's GIL. It reads
frames from the channel and

* writes the lossless raw stream (:class:`~.asciicast.CastWriter`) and finds shell-integration
  marks on its reader thread — cheap work that keeps up with a flood;
* records typed input (answerbacks removed; hidden input never reaches this process) and resizes;
* hands output to the screen thread (:class:`~.sampler.ScreenSampler`), which may skip.

When the pipe closes it finishes the session and writes one status line (JSON) on ``report_fd``
for the wrapper to turn into a message after the user's session.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from crowdcode_sdk import EditorInfo, Session, TerminalFocus, TerminalInput, TerminalResize
from crowdcode_sdk.schema import RecordingGap

from . import channel
from .agent_tracker import AgentTracker
from .asciicast import CastHeader, CastWriter
from .commands import CommandTracker
from .foreground import ForegroundWatcher
from .input_filter import typed
from .marks import MarkScanner
from .sampler import ScreenSampler
from .screen import AvtScreen


@dataclass
class RecorderSpec:
    """What the wrapper tells the recorder about the terminal it records."""

    terminal_id: str
    terminal_name: str
    argv: list[str]
    shell: str | None  # integrated shell kind
    nonce: str
    cols: int
    rows: int
    master: int
    child_pid: int
    workspace: str
    start_monotonic: float
    env: dict[str, str] = field(default_factory=dict)
    observe_screen: bool = True


def run(spec: RecorderSpec, frames_fd: int, report_fd: int) -> None:
    """The recorder process's main; returns when the channel closes."""
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP, signal.SIGTSTP, signal.SIGWINCH):
        signal.signal(sig, signal.SIG_IGN)  # the session ends when the wrapper closes the channel
    problems: list[str] = []
    report: dict[str, Any] = {}
    try:
        report = _record(spec, frames_fd, problems.append)
    except Exception as exc:
        problems.append(f"recorder failed: {exc!r}")
        with contextlib.suppress(OSError):  # drain so the wrapper never blocks on a dead recorder
            while os.read(frames_fd, 1 << 20):
                pass
    report["problems"] = problems
    with contextlib.suppress(OSError):
        os.write(report_fd, orjson.dumps(report) + b"\n")


def _record(spec: RecorderSpec, frames_fd: int, on_problem: Any) -> dict[str, Any]:
    editor = EditorInfo(name=spec.terminal_name, host=spec.env.get("TERM_PROGRAM") or spec.env.get("TERM"))
    session = Session(adapter="shell", editor=editor, workspace=spec.workspace, on_problem=on_problem)
    cast = CastWriter(
        cast_path(session.directory, spec.terminal_id),
        CastHeader(spec.cols, spec.rows, session.metadata.start_time, " ".join(spec.argv), spec.env),
        spec.start_monotonic,
    )
    session.add_panic_hook(cast.truncate_since)
    session.publish(terminal={"id": spec.terminal_id, "name": spec.terminal_name, "pid": spec.child_pid})
    session.record(TerminalFocus(terminal_id=spec.terminal_id, terminal_name=spec.terminal_name))
    session.record(TerminalResize(terminal_id=spec.terminal_id, cols=spec.cols, rows=spec.rows))
    if spec.workspace:
        session.publish(cwd=spec.workspace)
    commands = CommandTracker(session, spec.terminal_id, spec.terminal_name, spec.shell)
    agents = AgentTracker(session, spec.terminal_id)
    sampler = ScreenSampler(
        session,
        AvtScreen(spec.cols, spec.rows),
        spec.terminal_id,
        spec.terminal_name,
        watcher=ForegroundWatcher(spec.master, spec.child_pid, tuple(spec.argv)),
        commands=commands,
        agents=agents,
        observe=spec.observe_screen,
        on_problem=on_problem,
        on_tick=cast.flush,
    )
    session.add_panic_hook(sampler.forget)
    sampler.start()
    marks = MarkScanner(spec.nonce)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    status: int | None = None
    lost = 0
    for frame in channel.read_frames(frames_fd):
        kind, at, data = frame.kind, frame.time, frame.data
        if kind == channel.OUTPUT:
            cast.output(at, data)
            for mark in marks.feed(data, at):
                commands.mark(mark, session.now_ms())
            sampler.output(data)
        elif kind == channel.INPUT:
            keys = typed(data)
            if keys:
                cast.input(at, keys)
                text = decoder.decode(keys)
                if text:
                    session.record(TerminalInput(terminal_id=spec.terminal_id, data=text))
                    commands.typed(text)
                    agents.typed(text, at)
        elif kind == channel.RESIZE:
            cols, rows = (int(n) for n in data.split(b"x"))
            cast.resize(at, cols, rows)
            session.record(TerminalResize(terminal_id=spec.terminal_id, cols=cols, rows=rows))
            sampler.resize(cols, rows)
        elif kind == channel.GAP:
            missing = int.from_bytes(data, "little")
            lost += missing
            cast.marker(at, f"crowdcode: {missing} bytes not recorded")
            session.record(RecordingGap(lost_events=0, reason=f"{missing} bytes of terminal I/O not recorded"))
        elif kind == channel.EXIT:
            status = int(data)
            cast.exit(at, status)
    sampler.stop()
    now = session.now_ms()
    commands.close(status, now)
    agents.foreground(None, time.monotonic())
    cast.close()
    session.close("exit" if status is not None else "wrapper ended")
    return {
        "sessionId": session.id,
        "directory": str(session.directory),
        "lostBytes": lost + cast.lost_bytes,
        "castError": str(cast.error) if cast.error else None,
        "screenSkippedBytes": sampler.skipped_bytes,
    }


def cast_path(directory: Path, terminal_id: str) -> Path:
    return directory / "terminals" / f"{terminal_id}.cast"
