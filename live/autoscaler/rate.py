"""Requests per second per replica, from two scrapes of the instances' counters.

The HPA wants a per-replica average. Between two scrapes ``dt`` seconds apart, each instance's
counter grew by ``delta`` requests; the service served ``sum(delta) / dt`` requests per second, and
the per-replica metric is that divided by the number of instances that answered this scrape. Replicas
come and go between scrapes, so:

* an instance seen for the first time counts its whole counter (it started after the last scrape,
  from zero);
* a counter that went down belongs to a restarted process: it counts its new value, never a
  negative delta (Prometheus' ``rate`` treats resets the same way);
* an instance that is gone (scaled down, dead, not answering) contributes nothing and is not counted
  among the replicas.

Chosen over ``http_requests_in_flight``: a gauge read once a second is a sample of a quantity that
swings between 0 and a few at a moderate load, whereas the counter integrates every request.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["RequestRate"]


class RequestRate:
    """Turns successive ``{instance: counter}`` scrapes taken at ``now`` into requests/s per replica."""

    def __init__(self) -> None:
        self._counts: dict[str, float] = {}
        self._at: float | None = None

    def observe(self, counts: Mapping[str, float], now: float) -> float | None:
        """The per-replica rate since the previous scrape (None for the first one or if none answered)."""
        previous, since = self._counts, self._at
        self._counts, self._at = dict(counts), now
        if since is None or not counts or now <= since:
            return None
        served = 0.0
        for instance, count in counts.items():
            before = previous.get(instance, 0.0)
            served += count - before if count >= before else count
        return served / (now - since) / len(counts)
