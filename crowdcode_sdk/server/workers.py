"""Several server processes on one port (``crowdcode serve --workers N``).

One Python process runs its event loop and its validation under one GIL, so it uses about one
core. Instances are stateless (they share only the store), so N processes on one machine are N
instances behind the kernel as load balancer: each has its own listening socket bound with
``SO_REUSEPORT`` to the same port, and the kernel spreads new connections across them. All the
sockets are bound before any process forks, so a connection never lands on a socket nobody
accepts from; each process builds its own :class:`~.ingest.Ingest` (and store client) after the
fork, so nothing with threads or connections crosses it.

The parent only supervises: SIGTERM or SIGINT is passed on to every worker as SIGTERM (each
finishes its in-flight uploads, as one server does), and the parent exits with the signal once
all have. A worker that dies on its own stops the others: a server short of a worker should be
restarted whole by whatever supervises it (systemd, Kubernetes), not limp on. A worker still
running ``grace_s`` after its SIGTERM is killed (SIGKILL), so the parent always ends.

The parent takes signals synchronously (``sigtimedwait`` with them blocked) rather than with a
handler. A handler is inherited by ``fork``: a SIGTERM that reached a worker before its first
instruction ran the parent's handler in the worker, was swallowed, and that worker served on while
the parent waited for it forever. With the signals blocked across ``fork``, such a SIGTERM stays
pending in the worker until it has put back the default action, and then ends it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable

import uvicorn

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
WAKE_SIGNALS = {*STOP_SIGNALS, signal.SIGCHLD}


def run_workers(
    sockets: list[socket.socket],
    make_server: Callable[[], uvicorn.Server],
    ready: Callable[[], None],
    grace_s: float,
) -> int:
    """Fork one worker per socket, each serving ``make_server()`` on it, call ``ready()`` once all
    are forked, and wait for all of them; those still running ``grace_s`` after being asked to
    stop are killed."""
    previous_mask: set[int] = set(signal.pthread_sigmask(signal.SIG_BLOCK, WAKE_SIGNALS))
    workers: list[int] = []
    for sock in sockets:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the worker's side ends in os._exit, measured by the tests
            _worker(sock, sockets, make_server, previous_mask)
        workers.append(pid)
    for sock in sockets:
        sock.close()
    ready()
    received: list[int] = []
    failed = False
    kill_at: float | None = None
    while workers:
        for pid, status in _reap(workers):
            if not received and not failed:  # one died unasked: stop the rest
                failed = True
                print(f"crowdcode serve: worker {pid} exited ({_describe(status)}); stopping", file=sys.stderr)
                _signal_all(workers, signal.SIGTERM)
                kill_at = time.monotonic() + grace_s
        if not workers:
            break
        if kill_at is not None and time.monotonic() >= kill_at:
            print(
                f"crowdcode serve: workers {_pids(workers)} still running {grace_s:g} s after SIGTERM; killing them",
                file=sys.stderr,
            )
            _signal_all(workers, signal.SIGKILL)
            kill_at = None  # SIGKILL cannot be refused: what is left is only to reap them
        timeout = None if kill_at is None else max(0.0, kill_at - time.monotonic())
        info = signal.sigtimedwait(WAKE_SIGNALS, timeout) if timeout is not None else signal.sigwaitinfo(WAKE_SIGNALS)
        if info is not None and info.si_signo in STOP_SIGNALS and not received:
            received.append(info.si_signo)
            _signal_all(workers, signal.SIGTERM)
            if kill_at is None:
                kill_at = time.monotonic() + grace_s
    signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
    if received:
        signal.raise_signal(received[0])  # like one uvicorn server: exit by the signal that stopped us
    return 1 if failed else 0


def _worker(
    sock: socket.socket,
    sockets: list[socket.socket],
    make_server: Callable[[], uvicorn.Server],
    mask: set[int],
) -> None:
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)  # uvicorn installs its own while it runs
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a SIGTERM sent before this point ends us here
    for other in sockets:
        if other is not sock:
            other.close()
    code = 0
    try:
        make_server().run(sockets=[sock])
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _reap(workers: list[int]) -> list[tuple[int, int]]:
    """The workers that have exited, removed from ``workers``; other children are left alone."""
    reaped = []
    for pid in list(workers):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            workers.remove(pid)
            reaped.append((pid, status))
    return reaped


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _pids(pids: list[int]) -> str:
    return ", ".join(map(str, pids))


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"status {os.waitstatus_to_exitcode(status)}"
