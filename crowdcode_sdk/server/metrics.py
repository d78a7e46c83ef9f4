"""Prometheus metrics of one instance (``GET /metrics``), through prometheus_client.

Each app has its own registry, so that two instances in one process (tests) count apart.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "crowdcode_requests", "HTTP requests answered", ["route", "status"], registry=self.registry
        )
        self.received_bytes = Counter("crowdcode_received_bytes", "Upload body bytes received", registry=self.registry)
        self.stored = Counter("crowdcode_stored_bundles", "Bundles stored and acknowledged", registry=self.registry)
        self.rejections = Counter(
            "crowdcode_rejections", "Requests refused, by reason", ["reason"], registry=self.registry
        )
        self.uploads_in_flight = Gauge(
            "crowdcode_uploads_in_flight", "Upload bodies being received", registry=self.registry
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
