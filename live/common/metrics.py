"""Prometheus metrics of one live app (prometheus-client), in a registry of its own.

The RED metrics per route template (``/orders/{order_id}``, never the raw path, so the number of
series stays bounded): ``http_requests_total`` by method and status, the latency histogram
``http_request_duration_seconds`` (buckets from 1 ms to 10 s), ``http_requests_in_flight``, plus
``circuit_breaker_state`` (0 closed, 1 half-open, 2 open) for every breaker the app holds.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from patterns.breaker import BreakerState

__all__ = ["BREAKER_LEVEL", "CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
BREAKER_LEVEL = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}
"""The value ``circuit_breaker_state`` takes in each breaker state."""

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The metrics of one app; ``exposition()`` is the text ``/metrics`` serves."""

    def __init__(self, service: str, instance: str) -> None:
        self.registry = CollectorRegistry()
        labels = {"service": service, "instance": instance}
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge("http_requests_in_flight", "Requests being answered", registry=self.registry)
        self.breakers = Gauge(
            "circuit_breaker_state", "0 closed, 1 half-open, 2 open", ["breaker"], registry=self.registry
        )
        self.info = Gauge("servicelab_instance", "Always 1: who I am", list(labels), registry=self.registry)
        self.info.labels(**labels).set(1)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def breaker(self, name: str, state: BreakerState) -> None:
        """Publish a breaker's current state."""
        self.breakers.labels(name).set(BREAKER_LEVEL[state])

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
