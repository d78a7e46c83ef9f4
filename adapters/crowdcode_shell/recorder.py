"""The recorder process: everything that is not pass-through.

It runs in its own process (asciinema 2.x does the same with its writer), so that neither the
emulator nor the journal ever competes with the pass-through loop for Python's GIL. It takes
frames from the channel from its first moment, into a spool file, so that a flood is handled after
it ends (:mod:`.spool`); and it sets its session up (:mod:`.recording`, most of its start-up) only
once there is something to handle, so that a flood at the start is not slowed by that either. It

* writes the lossless raw stream (:class:`~.asciicast.CastWriter`) and finds shell-integration
  marks on its reader thread;
* records typed input (answerbacks removed; hidden input never reaches this process) and resizes;
* hands output to the screen sampler (:class:`~.sampler.ScreenSampler`), which may skip.

When the pipe closes it finishes the session and writes one status line (JSON) on ``report_fd``
for the wrapper to turn into a message after the user's session.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from crowdcode_sdk.locations import Locations, private_dir

from . import channel, spool
from .recorder_spec import RecorderSpec

if TYPE_CHECKING:
    from .recording import Recording


def run(spec: RecorderSpec, frames_fd: int, report_fd: int, hurry_fd: int | None = None) -> None:
    """The recorder process's main; returns when the channel closes.

    ``report_fd`` gets ``{"ready": true}`` once the session is set up and the foreground program
    is sampled (anything written to ``hurry_fd`` asks for that at once), one JSON line per problem
    as it happens, ``{"problem": text}``, and a closing line with what was lost: the wrapper reads
    what is there when the user's program ends, and does not wait for the rest
    (:func:`.app._read_report`)."""

    def tell(line: dict[str, Any]) -> None:
        import orjson  # loaded by the session by then, unless it could not be set up

        with contextlib.suppress(OSError):  # the wrapper has gone: the session has the gaps
            os.write(report_fd, orjson.dumps(line) + b"\n")

    def problem(text: str) -> None:
        tell({"problem": text})

    report: dict[str, Any] = {}
    try:
        report = _record(spec, frames_fd, problem, lambda: tell({"ready": True}), hurry_fd)
    except OSError as exc:  # the environment (a full disk, a file where a directory should be)
        problem(f"recorder failed: {exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
        report = {"failed": True}
    except Exception as exc:
        problem(f"recorder failed: {exc!r}")
        report = {"failed": True}
    tell(report)  # then exit: the wrapper's writes to the channel fail, and it counts them as lost


def _record(spec: RecorderSpec, frames_fd: int, on_problem: Any, on_ready: Any, hurry: int | None) -> dict[str, Any]:
    """Take frames into the spool from the first moment; set the session up
    (:class:`.recording.Recording`) once there is something to handle, which a flood at the start
    defers to its end."""
    flood = spool.Flood(time.monotonic(), at_start=True)
    pumped = threading.Event()
    the_spool = _open_spool()
    progress = spool.Progress(frames_fd, the_spool)
    recording: Recording | None = None

    def prepare() -> None:
        nonlocal recording
        if recording is None:
            from .recording import Recording  # most of the recorder's start-up

            recording = Recording(spec, the_spool, flood, pumped, progress, on_problem, on_ready)

    def handle(frame: channel.Frame) -> None:
        assert recording is not None  # prepared before the first frame
        recording.handle(frame)

    try:
        spool.pump(frames_fd, the_spool, handle, on_problem, flood, prepare=prepare, hurry=hurry, progress=progress)
    finally:
        pumped.set()
        report = recording.close() if recording is not None else {}
    return report


def _open_spool() -> spool.Spool | None:
    """The spool, without a name until the session exists, or ``None`` (frames are then handled as
    they come) if it cannot be made."""
    try:
        return spool.Spool.unnamed(private_dir(Locations.default().sessions_dir))
    except OSError:
        return None
