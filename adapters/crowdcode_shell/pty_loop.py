"""The pass-through loop: the child in a pseudo-terminal, the user's bytes in and out unchanged.

asciinema 2.x's design: one ``select()`` over the PTY master, standard input and a signal
wake-up pipe (``signal.set_wakeup_fd``), so that signals are handled in the loop and never
interrupt a write halfway. Input is written to the PTY only while the child can take it; output is
written to standard output as it comes. Everything recording needs goes into a
:class:`~.channel.ChannelWriter`, which never blocks.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import select
import shutil
import signal
import termios
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from ptyprocess import PtyProcess

from . import channel, start_position
from .channel import ChannelWriter
from .end_of_input import POLL_S, PendingEof
from .terminal_mode import get_size, raw_mode, set_size

READ_SIZE = 64 * 1024
FULL_READ = 1024
"""A read at least this long suggests a flood: read again at once."""
BURST = READ_SIZE - 8 * 1024
"""Output passed on since the last ``select`` that ends a burst (when draining, the burst goes to
the recorder and reading goes on)."""
MAX_PARTS = 256
"""Reads in one recorder frame at most: a ``writev`` takes at most ``IOV_MAX`` (1024) buffers."""
HOLD_INPUT_S = 5.0
"""How long typed keys wait at most for the recorder to be ready (a stopped or starved recorder):
then the session goes on and the recorder catches up."""
FORWARDED_SIGNALS = {signal.SIGHUP: signal.SIGHUP, signal.SIGTERM: signal.SIGHUP, signal.SIGQUIT: signal.SIGQUIT}
"""Signals for the wrapper that end the session, and what the child gets: SIGTERM becomes SIGHUP,
what a closing terminal window sends, because interactive shells ignore SIGTERM."""


class Child(NamedTuple):  # not a dataclass: built before the user's program runs (docs/shell.md)
    pid: int
    master: int
    process: PtyProcess

    def close(self) -> None:
        """Close the PTY's master. ptyprocess's own ``close`` would wait 0.1 s and kill a child
        that this loop has reaped already; marked closed, its finaliser leaves it alone."""
        with contextlib.suppress(OSError):
            self.process.fileobj.close()
        self.process.closed = True


class CannotRun(Exception):
    """The command could not be started (not found, not executable): the reason, one line."""


def spawn(argv: Sequence[str], env: dict[str, str], size: tuple[int, int]) -> Child:
    """Start ``argv`` on a new PTY of ``size`` (cols, rows), as session leader with it as its
    controlling terminal, through ptyprocess: it sets the size before ``exec`` (the child never
    sees 0x0), closes every other descriptor in the child, and passes an ``exec`` failure back to
    this process, so that it is reported here, not written into the child's terminal. Raises
    :class:`CannotRun`.

    The ``exec`` itself is made by ``preexec_fn``, after the signal defaults: ptyprocess would
    exec with ``argv[0]`` replaced by its full path, which the shell's ``$0``, ``ps`` and the
    recorded command lines would then show."""
    if shutil.which(argv[0], path=env.get("PATH", os.defpath)) is None:
        raise CannotRun(_why_not_found(argv[0]))
    try:
        process = PtyProcess.spawn(
            list(argv), env=env, dimensions=(size[1], size[0]), preexec_fn=lambda: _exec(argv, env)
        )
    except OSError as exc:  # ptyprocess found no such program (another PATH), or exec failed
        raise CannotRun(exc.strerror or str(exc)) from None
    return Child(process.pid, process.fd, process)


def _why_not_found(program: str) -> str:
    """What a shell would say about a program that is not an executable file."""
    if os.sep not in program or not os.path.exists(program):
        return "command not found"
    return os.strerror(errno.EISDIR if os.path.isdir(program) else errno.EACCES)


def _exec(argv: Sequence[str], env: dict[str, str]) -> None:
    """In the child: the signal defaults, then the program, with ``argv`` as given."""
    _default_signals()
    try:
        os.execvpe(argv[0], list(argv), env)
    except OSError as exc:  # ptyprocess sends "Type:0:str(exc)" to the parent: the reason alone
        raise type(exc)(exc.strerror or str(exc)) from None


def _default_signals() -> None:
    """Give the child the signal state a terminal gives a shell. Python ignores SIGPIPE and
    SIGXFSZ, and a wrapper started in the background inherits an ignored SIGINT and SIGQUIT;
    ignored signals survive ``exec`` and a shell cannot undo them, so without this ``yes | head``
    would complain of a broken pipe and Ctrl-C would not stop ``sleep``."""
    for sig in (*_RESET_SIGNALS, *FORWARDED_SIGNALS):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


_RESET_SIGNALS = (
    signal.SIGINT,
    signal.SIGPIPE,
    signal.SIGXFSZ,
    signal.SIGTSTP,
    signal.SIGTTIN,
    signal.SIGTTOU,
    signal.SIGCHLD,
    signal.SIGWINCH,
)


def input_hidden(master: int) -> bool:
    """True while the child reads a password: echo off in canonical (line) mode, as ``read -s``,
    getpass, sudo and ssh set it. Full-screen programs and readline turn off both echo and
    canonical mode and echo themselves, so their input is visible and recorded."""
    try:
        lflag = termios.tcgetattr(master)[3]
    except termios.error:
        return True  # cannot tell: do not record
    return not (lflag & termios.ECHO) and bool(lflag & termios.ICANON)


def exit_status(wait_status: int) -> int:
    """A shell's convention: the exit code, or 128+N when killed by signal N."""
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


class _Signals:
    """Signals turned into bytes on a pipe that ``select`` watches."""

    HANDLED = (signal.SIGCHLD, signal.SIGWINCH, *FORWARDED_SIGNALS)

    def __init__(self) -> None:
        self.read_fd, self._write_fd = os.pipe()
        for fd in (self.read_fd, self._write_fd):
            os.set_blocking(fd, False)
        self._previous_fd = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        self._previous = {sig: signal.signal(sig, _ignore_in_python) for sig in self.HANDLED}

    def pending(self) -> list[int]:
        try:
            return list(os.read(self.read_fd, 256))
        except BlockingIOError:
            return []

    def close(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(self._previous_fd)
        os.close(self.read_fd)
        os.close(self._write_fd)


def _ignore_in_python(signum: int, frame: object) -> None:
    """The wake-up pipe carries the signal; the loop acts on it."""


def run(
    child: Child,
    recorder: ChannelWriter,
    *,
    stdin: int = 0,
    stdout: int = 1,
    hidden: Callable[[int], bool] = input_hidden,
    ask_position: bool = False,
    ready: int | None = None,
    hurry: int | None = None,
) -> int:
    """Pump bytes until the child exits; returns its exit status (128+N for signal N). With
    ``ask_position``, the user's terminal is asked where its cursor is (:mod:`.start_position`).

    ``ready`` is a descriptor that becomes readable once the recorder follows the terminal (it
    samples the foreground program and takes frames). Until then, at most :data:`HOLD_INPUT_S`,
    the user's keys are held, not the program's output: output goes to the terminal and, as
    frames stamped with this loop's clock, to the channel from the first byte, so that a program
    that writes a lot at once is not stopped while the recorder imports its modules (on a loaded
    machine, seconds); and no key reaches a program before the recorder can see which program it
    went to. Whenever more output waits than the channel's buffer holds, before or after the
    recorder is ready, the output waits too rather than be lost, unless the recorder has taken
    nothing for :data:`~.channel.STALL_S`. The answer to the cursor-position question is taken
    from the input meanwhile. The first key held is told to the recorder on ``hurry``: a recorder
    that defers its set-up while the program floods the terminal sets up at once."""
    signals = _Signals()
    try:
        with raw_mode(stdin):
            asking = ask_position and os.isatty(stdin) and os.isatty(stdout)
            if asking:  # in raw mode, so that the answer is not echoed
                _write_all(stdout, start_position.QUERY)
            status = _loop(child, recorder, stdin, stdout, signals, hidden, asking, ready, hurry)
    finally:
        signals.close()
    return status


def _loop(
    child: Child,
    recorder: ChannelWriter,
    stdin: int,
    stdout: int,
    signals: _Signals,
    hidden: Callable[[int], bool],
    asking: bool,
    ready: int | None,
    hurry: int | None,
) -> int:
    master = child.master
    hold_until = time.monotonic() + HOLD_INPUT_S if ready is not None else 0.0
    held = bytearray()
    answer_until = time.monotonic() + start_position.WINDOW_S if asking else 0.0
    os.set_blocking(master, False)
    stdin_is_tty = os.isatty(stdin)
    stdin_open = True
    to_child = bytearray()
    pending_eof: PendingEof | None = None
    status: int | None = None

    def forward(data: bytes) -> None:
        record = not hidden(master)  # the terminal's state when the keys reach the program
        to_child.extend(data)
        _write_some(master, to_child)  # the keys go on first, recording after
        if record:
            recorder.send(channel.INPUT, data)

    readable: list[int] = []
    while status is None:
        if hold_until and (ready in readable or time.monotonic() >= hold_until):
            hold_until = 0.0  # the recorder follows (or is too late to wait for): keys go on
            if held:
                forward(bytes(held))
                held.clear()
        if pending_eof is not None and not to_child and not hold_until:
            to_child += pending_eof.due()
        # A full channel holds the program's output rather than losing it, while the recorder
        # makes progress (before it is ready: a loaded machine takes seconds over its imports)
        output_held = recorder.holds(READ_SIZE)
        readers = (
            ([] if output_held else [master])
            + [signals.read_fd]
            + ([stdin] if stdin_open else [])
            + ([ready] if hold_until and ready is not None else [])
        )
        writers = ([master] if to_child else []) + ([recorder.fd] if recorder.pending else [])
        timeout = POLL_S if pending_eof is not None else None
        if hold_until:
            timeout = max(0.0, hold_until - time.monotonic())
        if output_held:  # until the recorder counts as stalled, at the latest
            stalled_in = recorder.stalled_at() - time.monotonic()
            timeout = max(0.0, min(math.inf if timeout is None else timeout, stalled_in))
        try:
            readable, writable, _ = select.select(readers, writers, [], timeout)
        except InterruptedError:
            continue
        if master in readable and not _pass_output(master, stdout, recorder):
            status = _wait(child.pid)
        if stdin_open and stdin in readable:
            data = _read_input(stdin)
            if data and answer_until:
                data, position = start_position.take_reply(data)
                if position is not None or time.monotonic() > answer_until:
                    answer_until = 0.0
                if position is not None:
                    recorder.send(channel.START, start_position.encode(position))
                    data = data or None  # only the answer: nothing typed (not the end of input)
            if data and hold_until:
                if not held and hurry is not None:
                    with contextlib.suppress(OSError):  # a recorder gone does not set up
                        os.write(hurry, b"k")
                held += data
            elif data:
                forward(data)
            elif data == b"":
                stdin_open = False
                if not stdin_is_tty:  # piped input ended: tell the child when it reads
                    pending_eof = PendingEof(master)
        if to_child and master in writable:
            _write_some(master, to_child)
        if recorder.fd in writable:
            recorder.flush()
        if signals.read_fd in readable:
            for signum in signals.pending():
                if signum == signal.SIGWINCH:
                    size = get_size(stdin, stdout)
                    set_size(master, *size)
                    recorder.send(channel.RESIZE, b"%dx%d" % size)
                elif signum == signal.SIGCHLD and status is None:
                    try:
                        pid, wait_status = os.waitpid(child.pid, os.WNOHANG)
                    except ChildProcessError:  # reaped already
                        continue
                    if pid:
                        _pass_output(master, stdout, recorder, drain=True)
                        status = exit_status(wait_status)
                elif signum in FORWARDED_SIGNALS:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(child.pid, FORWARDED_SIGNALS[signal.Signals(signum)])
    recorder.send(channel.EXIT, str(status).encode())
    child.close()
    return status


def _write_some(fd: int, pending: bytearray) -> None:
    """Write what ``fd`` takes now; the rest stays in ``pending`` for when it is writable."""
    with contextlib.suppress(BlockingIOError):
        del pending[: os.write(fd, pending)]


def _read_input(fd: int) -> bytes | None:
    """Bytes typed, ``b""`` at end of input, ``None`` when nothing was there after all."""
    try:
        return os.read(fd, READ_SIZE)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def _pass_output(master: int, stdout: int, recorder: ChannelWriter, *, drain: bool = False) -> bool:
    """Pass on what the child wrote: to the terminal read by read, to the recorder as one frame
    per burst. False once the child's side is closed.

    A PTY hands out at most about 4 KiB per read, so a flood is tens of thousands of reads a
    second. After a full read more is almost certainly waiting, so the next read is made straight
    away rather than after another ``select``; after a short one the child has paused. Measured on
    a 2-core machine (docs/benchmarks.md), this and one recorder frame per burst instead of per
    read bring the loop itself level with ``script(1)``; the recorder's work on a flood waits until
    it ends (:mod:`.spool`). Writing to the terminal per read, not per burst, keeps the terminal and
    the child working at the same time (writing per 16 or 48 KiB was slower). Each read is a fresh
    ``bytes`` written as it is, and a burst's reads go to the recorder in one ``writev``: no slicing
    of a shared buffer per read, the least Python per read of the ways measured. With ``drain``,
    reads go on until nothing is left (the child has exited).
    """
    read, write = os.read, os.write  # looked up once: this runs per 4 KiB of a flood
    parts: list[bytes] = []
    filled = 0
    alive = True
    while True:
        try:
            data = read(master, READ_SIZE - filled)  # a burst is READ_SIZE at most
        except BlockingIOError:
            break
        except OSError:  # EIO: every process on the PTY closed it
            data = b""
        n = len(data)
        if not n:
            alive = False
            break
        try:
            written = write(stdout, data)
        except OSError:  # would block, or worse: _write_all waits, or knows what to do
            written = 0
        if written < n:
            _write_all(stdout, memoryview(data)[written:])
        parts.append(data)
        filled += n
        if filled >= BURST or len(parts) >= MAX_PARTS:
            if not drain:
                break  # back to select: typed keys and signals wait no longer than one burst
            recorder.send_parts(channel.OUTPUT, parts)
            parts, filled = [], 0
        elif n < FULL_READ and not drain:
            break
    if parts:
        recorder.send_parts(channel.OUTPUT, parts)
    return alive


def _wait(pid: int) -> int:
    while True:
        try:
            _, wait_status = os.waitpid(pid, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0
        return exit_status(wait_status)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    while data:
        try:
            n = os.write(fd, data)
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        except OSError as exc:
            if exc.errno == errno.EINTR:
                continue
            if exc.errno in (errno.EPIPE, errno.EIO):  # the user's terminal is gone
                return
            raise
        if n == len(data):  # the common case: no slicing, once per read during a flood
            return
        data = memoryview(data)[n:]
