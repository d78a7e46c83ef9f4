"""The live-session registry: which sessions record right now, and how to reach them.

Each live session publishes ``<runtime>/live/<session-id>.json`` — its pid, adapter, workspace and
whatever its adapter adds (the shell wrapper publishes the foreground command and directory, which
attribution uses as evidence) — and serves a control socket so that ``crowdcode panic`` and
``crowdcode status`` reach sessions in other processes. The runtime directory is private (0700),
so the registry may hold local paths; nothing in it is ever uploaded.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from .locations import Locations, private_dir, write_private_atomic

Handler = Callable[[dict[str, Any]], dict[str, Any]]

_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux, 104 on macOS


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A killed recorder stays a zombie until its wrapper reaps it at exit: its session is over.
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def live_sessions(locations: Locations) -> list[dict[str, Any]]:
    """Entries of sessions whose process is alive, oldest first; stale entries are removed."""
    entries = []
    try:
        names = os.listdir(locations.live_dir)
    except FileNotFoundError:
        return []
    for name in names:
        if not name.endswith(".json"):
            continue
        path = locations.live_dir / name
        try:
            entry = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        if not _pid_alive(int(entry.get("pid", -1))):
            with contextlib.suppress(OSError):
                path.unlink()
                Path(entry.get("control", "")).unlink()
            continue
        entries.append(entry)
    return sorted(entries, key=lambda e: e.get("startTime", 0))


def request(entry: dict[str, Any], op: str, timeout: float = 5.0, **args: Any) -> dict[str, Any]:
    """Send one request to a live session's control socket and return its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(entry["control"])
        sock.sendall(orjson.dumps({"op": op, **args}) + b"\n")
        return orjson.loads(_read_line(sock))


def _read_line(sock: socket.socket) -> bytes:
    """One newline-terminated message (the control protocol is one JSON line each way)."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


class LiveRegistration:
    """A session's registry entry and control socket, removed on :meth:`close`."""

    def __init__(self, locations: Locations, session_id: str, info: dict[str, Any], handler: Handler) -> None:
        self._path = private_dir(locations.live_dir) / f"{session_id}.json"
        self._handler = handler
        self._socket_path = _socket_path(locations.live_dir, session_id)
        with contextlib.suppress(FileNotFoundError):
            self._socket_path.unlink()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(self._socket_path))
        os.chmod(self._socket_path, 0o600)
        self._server.listen(8)
        self._info = {**info, "sessionId": session_id, "pid": os.getpid(), "control": str(self._socket_path)}
        self._lock = threading.Lock()
        self._write()
        self._thread = threading.Thread(target=self._serve, name=f"crowdcode-control-{session_id[:8]}", daemon=True)
        self._thread.start()

    @property
    def info(self) -> dict[str, Any]:
        return dict(self._info)

    def update(self, **info: Any) -> None:
        """Merge ``info`` into the published entry (``None`` removes a key)."""
        with self._lock:
            for key, value in info.items():
                if value is None:
                    self._info.pop(key, None)
                else:
                    self._info[key] = value
            self._write()

    def _write(self) -> None:
        write_private_atomic(self._path, orjson.dumps(self._info))

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return  # closed
            with conn:
                try:
                    conn.settimeout(5)
                    answer = self._handler(orjson.loads(_read_line(conn)))
                except Exception as exc:  # a bad request must not stop the server
                    answer = {"ok": False, "error": str(exc)}
                with contextlib.suppress(OSError):
                    conn.sendall(orjson.dumps(answer) + b"\n")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        self._thread.join(timeout=5)
        for path in (self._path, self._socket_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _socket_path(live_dir: Path, session_id: str) -> Path:
    path = live_dir / f"{session_id[:12]}.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    # Deep CROWDCODE_HOME (test temp dirs): fall back to a short private directory.
    short = private_dir(Path(tempfile.gettempdir()) / f"crowdcode-{os.getuid()}")
    return short / f"{session_id[:12]}.sock"
