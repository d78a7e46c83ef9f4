"""crowd-code 2.0's upload, received on the loopback address: what it recorded, for the random
real-VS-Code session to compare with crowdcode's recording of the same actions.

crowd-code keeps its chunks in a temporary folder that it removes when it stops, after it has
uploaded them: it POSTs the part's name to its gateway (the address its .vsix was packaged with),
gets a URL back, and PUTs the ``source_part_NNN.tar.gz`` there. This stands in for both ends."""

from __future__ import annotations

import contextlib
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Gateway:
    """The parts received, in order; ``events()`` is crowd-code's recording."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.received = threading.Event()

    def events(self) -> list[dict[str, Any]]:
        chunks = []
        for part in self.parts:
            with tarfile.open(fileobj=io.BytesIO(part), mode="r:gz") as archive:
                for member in archive.getmembers():
                    data = archive.extractfile(member)
                    if data is not None and member.name.startswith("chunk_"):
                        chunks.append(json.loads(data.read()))
        return [event for chunk in sorted(chunks, key=lambda c: c["chunkIndex"]) for event in chunk["events"]]


@contextlib.contextmanager
def gateway(host: str, port: int) -> Iterator[Gateway]:
    received = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # the part's name: answered with where to put it
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self._answer(json.dumps({"uploadUrl": f"http://{host}:{port}/part/{len(received.parts) + 1}"}).encode())

        def do_PUT(self) -> None:  # the part itself
            received.parts.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            self._answer(b"")
            received.received.set()

        def _answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: pytest shows what the test asserts, not each request."""

    server = ThreadingHTTPServer((host, port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()
