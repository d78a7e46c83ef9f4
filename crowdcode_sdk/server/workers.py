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
restarted whole by whatever supervises it (systemd, Kubernetes), not limp on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from types import FrameType

import uvicorn

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def run_workers(
    sockets: list[socket.socket], make_server: Callable[[], uvicorn.Server], ready: Callable[[], None]
) -> int:
    """Fork one worker per socket, each serving ``make_server()`` on it, call ``ready()`` once all
    are forked, and wait for all of them."""
    received: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        _signal_all(workers, signal.SIGTERM)

    workers: list[int] = []
    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    for sock in sockets:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the worker's side ends in os._exit, measured by the tests
            _worker(sock, sockets, make_server)
        workers.append(pid)
    for sock in sockets:
        sock.close()
    ready()
    failed = False
    while workers:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity on old kernels
            continue
        workers.remove(pid)
        if not received and not failed:  # one died unasked: stop the rest
            failed = True
            print(f"crowdcode serve: worker {pid} exited ({_describe(status)}); stopping", file=sys.stderr)
            _signal_all(workers, signal.SIGTERM)
    for sig, handler in previous.items():
        signal.signal(sig, handler)
    if received:
        signal.raise_signal(received[0])  # like one uvicorn server: exit by the signal that stopped us
    return 1 if failed else 0


def _worker(sock: socket.socket, sockets: list[socket.socket], make_server: Callable[[], uvicorn.Server]) -> None:
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)  # uvicorn installs its own while it runs
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


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"status {os.waitstatus_to_exitcode(status)}"
