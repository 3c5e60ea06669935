"""Read one instance's ``/metrics``: how many requests it has answered since it started.

The count is the sum of ``http_requests_total`` over every method, route and status (probes --
``/health``, ``/ready``, ``/metrics`` -- are never counted by ``live.common.observability``, so
scraping does not inflate it). An instance that does not answer, or answers with something that is
not Prometheus text, gives None: it is left out of this period's measurement.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["COUNTER", "requests_answered", "scrape_all"]

COUNTER = "http_requests_total"


def requests_answered(url: str, timeout: float = 1.0) -> float | None:
    """The instance at ``url``'s answered-requests counter, or None if it cannot be read."""
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=timeout) as response:
            text = response.read().decode("utf-8", errors="replace")
        families = list(text_string_to_metric_families(text))
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return sum(sample.value for family in families for sample in family.samples if sample.name == COUNTER)


def scrape_all(urls: Mapping[str, str] | Iterable[tuple[str, str]], timeout: float = 1.0) -> dict[str, float]:
    """``{instance: counter}`` for every ``(instance, url)`` that answered."""
    pairs = urls.items() if isinstance(urls, Mapping) else urls
    counts = {instance: requests_answered(url, timeout) for instance, url in pairs}
    return {instance: count for instance, count in counts.items() if count is not None}
