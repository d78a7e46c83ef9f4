"""Admission limits of one server instance: request rates and concurrent uploads.

Both are in memory, per instance: a deployment of N instances behind a load balancer admits up
to N times each figure (docs/privacy.md, "Deployment"). That keeps the instances stateless; the
store is the only thing they share.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus

from .ingest import ApiError


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per key (an IP address, an install): ``rate`` per second, bursts of ``burst``."""

    def __init__(self, rate: float, burst: float, what: str, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.what = what
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        """Spend one token for ``key`` or raise 429 with the seconds until one is back."""
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.max_keys:
                    self._forget_idle(now)
                bucket = self._buckets[key] = _Bucket(self.burst, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens < 1:
                wait = (1 - bucket.tokens) / self.rate
                raise ApiError(
                    HTTPStatus.TOO_MANY_REQUESTS, f"too many {self.what}; retry in {wait:.1f} s", "rate", wait
                )
            bucket.tokens -= 1

    def _forget_idle(self, now: float) -> None:
        """Drop buckets that have refilled: remembering them changes nothing."""
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.updated) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:  # all busy: an attack from very many addresses
            raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "server busy; retry later", "busy", 1)


class UploadGate:
    """At most ``total`` uploads at once, and at most ``per_install`` from one install."""

    def __init__(self, total: int, per_install: int) -> None:
        self.total = total
        self.per_install = per_install
        self.active = 0
        self._per: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def hold(self, install_id: str) -> Iterator[None]:
        with self._lock:
            if self.active >= self.total:
                raise ApiError(
                    HTTPStatus.SERVICE_UNAVAILABLE, f"{self.total} uploads in progress; retry later", "busy", 1
                )
            if self._per.get(install_id, 0) >= self.per_install:
                raise ApiError(
                    HTTPStatus.TOO_MANY_REQUESTS,
                    f"this install already has {self.per_install} uploads in progress",
                    "install_concurrency",
                    1,
                )
            self.active += 1
            self._per[install_id] = self._per.get(install_id, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self.active -= 1
                self._per[install_id] -= 1
                if not self._per[install_id]:
                    del self._per[install_id]
