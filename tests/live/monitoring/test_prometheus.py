"""A real Prometheus next to a real stack: it scrapes every instance, follows ``live scale``, fires
the down alerts when a service's processes are killed and the error-rate alert of the service that
calls it, and ``live down`` stops it."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import psutil
import pytest

from live.loadgen import LoadResult, load_shop
from live.monitoring import Intervals, PrometheusHook, firing, prometheus_of
from live.supervisor import Stack, StackState
from live.supervisor.prepare import PREPARE
from tests.conftest import require
from tests.live.conftest import running_stack
from tests.live.http import call
from tests.live.supervisor.test_stack import bound, gone, servicelab

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("stack")]

T = TypeVar("T")


def eventually(probe: Callable[[], T], within: float, every: float = 0.25) -> T:
    """The first truthy answer of ``probe`` within ``within`` seconds (else the last, falsy, answer)."""
    deadline = time.monotonic() + within
    answer = probe()
    while not answer and time.monotonic() < deadline:
        time.sleep(every)
        answer = probe()
    return answer


def health(prometheus_url: str) -> dict[str, str]:
    """Every active target's ``instance`` label and its health (``up``, ``down``, ``unknown``)."""
    answer = call("GET", f"{prometheus_url}/api/v1/targets?state=active")
    assert answer.status == 200, answer.body
    return {t["labels"]["instance"]: t["health"] for t in answer.body["data"]["activeTargets"]}


@pytest.fixture
def monitored(tmp_path: Path) -> Iterator[Stack]:
    require(binary="prometheus")
    hook = PrometheusHook(Intervals(hold=1))
    stack = Stack(tmp_path, parent_pid=os.getpid(), prepare=PREPARE, hooks=[hook])
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


def test_killing_inventory_fires_its_down_alerts_and_an_error_rate_above_it(monitored: Stack) -> None:
    record = prometheus_of(monitored.state)
    assert record is not None
    everyone = {r.instance for r in monitored.state.instances}

    def all_up() -> bool:
        found = health(record.url)
        return set(found) == everyone and set(found.values()) == {"up"}

    assert eventually(all_up, 30), health(record.url)
    loads: list[LoadResult] = []
    gateway = monitored.state.url("gateway") or ""
    load = threading.Thread(
        target=lambda: loads.append(load_shop(gateway, rate=20, duration=8.0, mix="order=1")), daemon=True
    )
    load.start()
    try:
        time.sleep(3)  # healthy traffic: orders answer 201, and nothing fires
        assert firing(record.url) == []
        for instance in monitored.state.of("inventory"):
            instance.handle.signal(signal.SIGKILL)  # from now on orders answers 503 (inventory unavailable)

        def expected() -> set[tuple[str, str]]:
            found = {(a["alertname"], a.get("service", "")) for a in firing(record.url)}
            wanted = {("ServicelabInstanceDown", "inventory"), ("ServicelabServiceDown", "inventory")}
            # the failure shows as 5xx at orders (inventory unavailable) or, once the gateway's
            # breaker on the orders route opens and fails fast, at the gateway: either is the symptom
            symptom = found & {("ServicelabHighErrorRate", "orders"), ("ServicelabHighErrorRate", "gateway")}
            return found if wanted <= found and symptom else set()

        found = eventually(expected, 30)
        assert found, firing(record.url)
        assert {service for _, service in found} <= {"inventory", "orders", "gateway"}, found
    finally:
        load.join(timeout=30)
    outcomes = loads[0].requests["outcome"]
    assert (outcomes == "ok").any()
    assert (outcomes != "ok").any()  # the load really saw the failure the alert reports


def test_live_up_prometheus_follows_scale_and_live_down_stops_it(tmp_path: Path) -> None:
    require(binary="prometheus")
    up = servicelab("live", "up", "--state-dir", str(tmp_path), "--prometheus")
    try:
        assert up.returncode == 0, up.stderr
        state = StackState.load(tmp_path)
        assert state is not None
        record = prometheus_of(state)
        assert record is not None
        assert record.url in up.stdout
        port = int(record.url.rsplit(":", 1)[1])
        assert [c.laddr.ip for c in psutil.Process(record.pid).net_connections() if c.laddr.port == port] == [
            "127.0.0.1"
        ]
        scaled = servicelab("live", "scale", "orders", "2", "--state-dir", str(tmp_path))
        assert scaled.returncode == 0, scaled.stderr
        written = json.loads((tmp_path / "prometheus" / "targets.json").read_text())
        labels = [entry["labels"] for entry in written]
        assert {"service": "orders", "instance": "orders-2", "__scheme__": "http"} in labels
        seen = eventually(lambda: health(record.url).get("orders-2") == "up", 30)
        assert seen, health(record.url)
    finally:
        down = servicelab("live", "down", "--state-dir", str(tmp_path))
    assert down.returncode == 0, down.stderr
    assert gone([record.pid], within=5)
    assert not bound(port)


def test_under_mtls_prometheus_scrapes_every_instance_with_its_own_certificate(tmp_path: Path) -> None:
    require(binary="prometheus")
    with running_stack(tmp_path, mtls=True, hooks=[PrometheusHook(Intervals(hold=1))]) as stack:
        record = prometheus_of(stack.state)
        assert record is not None
        everyone = {r.instance for r in stack.state.instances}

        def all_up() -> bool:
            found = health(record.url)
            return set(found) == everyone and set(found.values()) == {"up"}

        assert eventually(all_up, 30), health(record.url)
        # with Prometheus's own mesh identity (the policy refuses /metrics to others); the gateway,
        # the public edge, still speaks plain HTTP
        config = (tmp_path / "prometheus" / "prometheus.yml").read_text(encoding="utf-8")
        assert "mesh-prometheus.crt" in config
        targets = json.loads((tmp_path / "prometheus" / "targets.json").read_text(encoding="utf-8"))
        schemes = {t["labels"]["instance"]: t["labels"]["__scheme__"] for t in targets}
        expected = {r.instance: "http" if r.service == "gateway" else "https" for r in stack.state.instances}
        assert schemes == expected
