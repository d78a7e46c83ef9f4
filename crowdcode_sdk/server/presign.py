"""Presigned S3 PUT URLs (``crowdcode serve --presign``), as crowd-code's API gateway hands out.

The URL is signed for one key, one length and one SHA-256 (``x-amz-checksum-sha256``), so S3
itself refuses any other bytes; the server only registers, signs, and acknowledges after reading
the object back and validating it. botocore (which s3fs already brings) does the signing.
"""

from __future__ import annotations

import base64
from typing import Any

from .storage import BundleStore


class Presigner:
    def __init__(self, store: BundleStore) -> None:
        if "s3" not in store.url.split("://", 1)[0]:
            raise ValueError("--presign needs an s3:// store")
        import botocore.session
        from botocore.config import Config

        options = store.storage_options
        client_kwargs = dict(options.get("client_kwargs", {}))
        if "key" in options:
            client_kwargs.setdefault("aws_access_key_id", options["key"])
            client_kwargs.setdefault("aws_secret_access_key", options["secret"])
        # SigV4 signs the Content-Length and x-amz-checksum-sha256 headers into the URL
        client_kwargs.setdefault("config", Config(signature_version="s3v4"))
        self.client = botocore.session.get_session().create_client("s3", **client_kwargs)

    def upload(self, key: str, sha256: str, size: int, ttl_s: int) -> dict[str, Any]:
        bucket, _, path = key.partition("/")
        checksum = base64.b64encode(bytes.fromhex(sha256)).decode()
        url = self.client.generate_presigned_url(
            "put_object",
            Params={"Bucket": bucket, "Key": path, "ContentLength": size, "ChecksumSHA256": checksum},
            ExpiresIn=ttl_s,
        )
        return {"uploadUrl": url, "uploadHeaders": {"x-amz-checksum-sha256": checksum}}
