"""``crowdcode serve``: run the ingest server (for dataset maintainers; needs the ``server`` extra)."""

from __future__ import annotations

import argparse
import json
import logging
from typing import TYPE_CHECKING

from ..errors import CrowdcodeError
from ..extras import missing_extra
from ..upload.bundle import Limits

if TYPE_CHECKING:
    import uvicorn

MB = 1024 * 1024
KILL_AFTER_SHUTDOWN_S = 5
"""A worker not gone this long after its in-flight uploads' time to finish is killed."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="run the ingest server that receives uploads (dataset maintainers)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument(
        "--store",
        required=True,
        help="a directory, or an fsspec URL such as s3://bucket/prefix (needs s3fs: pip install crowdcode[s3])",
    )
    p.add_argument(
        "--storage-options",
        default="{}",
        help='fsspec options as JSON, e.g. \'{"client_kwargs": {"endpoint_url": "http://minio:9000"}}\'',
    )
    p.add_argument(
        "--presign",
        action="store_true",
        help="hand clients presigned S3 PUT URLs (bytes go straight to S3; needs an s3:// store)",
    )
    p.add_argument("--max-bundle-mb", type=int, default=64, help="largest compressed bundle accepted")
    p.add_argument("--max-uncompressed-mb", type=int, default=512, help="largest uncompressed bundle accepted")
    p.add_argument(
        "--max-connections",
        type=int,
        default=2000,
        help="connections open at once (default 2000, fewer if files are short)",
    )
    p.add_argument("--max-uploads", type=int, default=64, help="uploads in progress at once (default 64)")
    p.add_argument("--max-uploads-per-install", type=int, default=2, help="uploads at once from one install")
    p.add_argument(
        "--max-validating",
        type=int,
        default=2,
        help="large upload bodies validated at once per process, once received (default 2; others wait)",
    )
    p.add_argument("--requests-per-ip", type=float, default=50, help="sustained requests/s from one address")
    p.add_argument("--requests-per-install", type=float, default=10, help="sustained requests/s from one install")
    p.add_argument("--registrations-per-ip", type=float, default=1, help="sustained registrations/s from one address")
    p.add_argument("--header-timeout-s", type=float, default=10, help="time a client gets to send a request's headers")
    p.add_argument("--min-upload-kbps", type=int, default=16, help="slowest average upload accepted, KiB/s")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port (one core each; default 1)",
    )
    p.add_argument("--shutdown-timeout-s", type=float, default=60, help="time in-flight uploads get to finish")
    p.add_argument(
        "--forwarded-allow-ips",
        default=None,
        help="trust X-Forwarded-For from these proxy addresses (comma-separated) for per-address limits",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        from ..server import BundleStore, Ingest, ServerConfig
        from ..server.serve import bind, uvicorn_server
        from ..server.workers import run_workers
    except ImportError as exc:
        raise missing_extra((exc.name or "a dependency").split(".")[0], "server", "crowdcode serve") from None
    config = ServerConfig(
        limits=Limits(args.max_bundle_mb * MB, args.max_uncompressed_mb * MB),
        max_connections=args.max_connections,
        max_uploads=args.max_uploads,
        max_uploads_per_install=args.max_uploads_per_install,
        max_validating=args.max_validating,
        requests_per_ip=args.requests_per_ip,
        requests_per_install=args.requests_per_install,
        registrations_per_ip=args.registrations_per_ip,
        min_upload_rate=args.min_upload_kbps * 1024,
        header_timeout_s=args.header_timeout_s,
        shutdown_timeout_s=args.shutdown_timeout_s,
        presign=args.presign,
    )
    if not 1 <= args.workers <= 256:
        raise CrowdcodeError(f"cannot serve: --workers {args.workers} is not between 1 and 256")
    if args.max_validating < 1:
        raise CrowdcodeError(f"cannot serve: --max-validating {args.max_validating} is not at least 1")
    if args.max_connections < 1:
        raise CrowdcodeError(f"cannot serve: --max-connections {args.max_connections} is not at least 1")
    sockets = bind(args.host, args.port, args.workers)

    def make_server() -> uvicorn.Server:
        store = BundleStore(args.store, json.loads(args.storage_options))
        return uvicorn_server(Ingest(store, config), args.forwarded_allow_ips)

    try:
        server = make_server()  # also checks the store and creates its secret before any worker starts
    except (OSError, ImportError, ValueError, TypeError) as exc:
        for sock in sockets:
            sock.close()
        raise CrowdcodeError(f"cannot serve: {exc}") from None
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    host, port = sockets[0].getsockname()[:2]
    workers = f" with {args.workers} workers" if args.workers > 1 else ""

    def ready() -> None:
        print(f"crowdcode ingest server on http://{host}:{port}, storing in {args.store}{workers}", flush=True)

    if args.workers == 1:
        ready()
        server.run(sockets=sockets)
        return 0
    del server  # each worker builds its own after the fork
    return run_workers(sockets, make_server, ready, args.shutdown_timeout_s + KILL_AFTER_SHUTDOWN_S)
