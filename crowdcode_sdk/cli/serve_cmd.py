"""``crowdcode serve``: run the ingest server (for dataset maintainers)."""

from __future__ import annotations

import argparse
import json
import logging

from ..errors import CrowdcodeError
from ..upload.bundle import Limits


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="run the ingest server that receives uploads (dataset maintainers)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
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
    p.add_argument("--max-bundle-mb", type=int, default=64, help="largest compressed bundle accepted")
    p.add_argument("--max-uncompressed-mb", type=int, default=512, help="largest uncompressed bundle accepted")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..server import BundleStore, IngestServer, ServerConfig

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    limits = Limits(args.max_bundle_mb * 1024 * 1024, args.max_uncompressed_mb * 1024 * 1024)
    try:
        options = json.loads(args.storage_options)
        store = BundleStore(args.store, options)
        server = IngestServer((args.host, args.port), store, ServerConfig(limits=limits))
    except (OSError, ImportError, ValueError, TypeError) as exc:
        raise CrowdcodeError(f"cannot serve: {exc}") from None
    print(f"crowdcode ingest server on {server.url}, storing in {args.store}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
