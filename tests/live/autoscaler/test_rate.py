"""Requests per second per replica from counter scrapes: steady replicas, replicas that join, leave
or restart between scrapes -- and the counter read from a real instrumented app's ``/metrics``."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from live.autoscaler import RequestRate, requests_answered, scrape_all
from live.common.server import running
from tests.live.http import call
from tests.live.pair import inventory_app


@given(
    increments=st.lists(st.integers(0, 10_000), min_size=1, max_size=8),
    dt=st.floats(0.01, 100),
)
def test_steady_replicas_give_served_requests_per_second_per_replica(
    increments: list[int], dt: float
) -> None:
    rate = RequestRate()
    before = {f"orders-{i}": float(i * 7) for i in range(len(increments))}
    assert rate.observe(before, 10.0) is None  # one scrape is no rate
    after = {name: count + inc for (name, count), inc in zip(before.items(), increments, strict=True)}
    measured = rate.observe(after, 10.0 + dt)
    assert measured == pytest.approx(sum(increments) / dt / len(increments))


def test_a_new_replica_counts_from_zero_a_restarted_one_from_its_reset_and_a_gone_one_not_at_all() -> None:
    rate = RequestRate()
    rate.observe({"orders-1": 100.0, "orders-2": 50.0, "orders-3": 70.0}, 0.0)
    # orders-1 served 20; orders-2 restarted and served 5 since; orders-3 left; orders-4 joined, served 15.
    measured = rate.observe({"orders-1": 120.0, "orders-2": 5.0, "orders-4": 15.0}, 2.0)
    assert measured == pytest.approx((20 + 5 + 15) / 2.0 / 3)


def test_no_answer_or_no_time_gives_no_rate() -> None:
    rate = RequestRate()
    rate.observe({"orders-1": 1.0}, 1.0)
    assert rate.observe({}, 2.0) is None
    assert rate.observe({"orders-1": 3.0}, 2.0) is None  # not after the previous scrape
    assert rate.observe({"orders-1": 5.0}, 3.0) == pytest.approx(2.0)


@pytest.mark.live
def test_the_counter_is_read_from_a_real_metrics_page_and_ignores_probes(tmp_path: Path) -> None:
    with running(inventory_app(tmp_path)) as url:
        assert requests_answered(url) == 0.0
        for sku in ("a", "b", "broken"):
            call("GET", f"{url}/inventory/items/{sku}")
        call("GET", f"{url}/ready")
        call("GET", f"{url}/metrics")
        assert requests_answered(url) == 3.0  # 2 answered 200, 1 answered 500, no probe
        assert scrape_all({"inventory-1": url, "gone": "http://127.0.0.1:9"}) == {"inventory-1": 3.0}
    assert requests_answered(url) is None  # stopped: nothing to read
