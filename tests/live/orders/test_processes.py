"""``python -m live.inventory`` and ``python -m live.orders`` as the supervisor runs them.

Real processes: they listen on loopback, register with a real registry (served here in-process),
become ready, find each other through it, trace one request across both, and stop cleanly on SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from live.common.server import running
from live.common.settings import InstanceSettings, write_secret
from live.registry.app import create_app as create_registry
from tests.live.http import call

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[3]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@contextmanager
def process(settings: InstanceSettings) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``python -m live.<service>``; yields it and its URL once it listens, and always stops it."""
    env = {**os.environ, **settings.environ(), "PYTHONPATH": str(ROOT)}
    log = settings.path("logs", f"{settings.instance}.log").open("wb")
    child = subprocess.Popen(
        [sys.executable, "-m", f"live.{settings.service}"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while not settings.run_file.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert settings.run_file.exists(), f"{settings.instance} did not start (exit code {child.poll()})"
        yield child, json.loads(settings.run_file.read_text())["url"]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=5)
        log.close()


def stop(child: subprocess.Popen[bytes]) -> int:
    child.send_signal(signal.SIGTERM)
    return child.wait(timeout=15)


def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 20
    while call("GET", f"{url}/ready").status != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert call("GET", f"{url}/ready").status == 200


def spans(settings: InstanceSettings) -> list[dict]:
    found = []
    for line in settings.trace_file.read_text().splitlines():
        for resource in json.loads(line)["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                found.extend(scope["spans"])
    return found


def test_inventory_alone_serves_its_database_and_stops_on_sigterm(tmp_path: Path) -> None:
    settings = InstanceSettings("inventory", "inventory-7", tmp_path, parent_pid=os.getpid())
    with process(settings) as (child, url):
        assert url.startswith("http://127.0.0.1:")
        items = call("GET", f"{url}/inventory/items")
        assert items.status == 200
        assert len(items.body) > 0
        assert settings.database.exists()
        assert stop(child) == 0
        assert not settings.run_file.exists()


def test_orders_finds_inventory_through_the_registry_and_one_trace_spans_both(tmp_path: Path) -> None:
    write_secret(tmp_path, "registry-token", "secret-token")
    with ExitStack() as stack:
        registry = stack.enter_context(running(create_registry("secret-token")))

        def settings(service: str) -> InstanceSettings:
            return InstanceSettings(service, f"{service}-1", tmp_path, registry, os.getpid())

        inventory, orders = settings("inventory"), settings("orders")
        inventory_child, inventory_url = stack.enter_context(process(inventory))
        orders_child, orders_url = stack.enter_context(process(orders))
        wait_ready(inventory_url)
        wait_ready(orders_url)
        before = call("GET", f"{inventory_url}/inventory/items/KB-001").body
        placed = call(
            "POST",
            f"{orders_url}/orders",
            json_body={"items": [{"sku": "KB-001", "quantity": 2}]},
            headers={
                "X-User": "ann",
                "Idempotency-Key": "k-1",
                "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01",
            },
        )
        assert placed.status == 201, placed.body
        after = call("GET", f"{inventory_url}/inventory/items/KB-001").body
        assert (after["available"], after["reserved"]) == (before["available"] - 2, before["reserved"] + 2)
        assert (stop(orders_child), stop(inventory_child)) == (0, 0)
    orders_spans = [span for span in spans(orders) if span["traceId"] == TRACE_ID]
    inventory_spans = [span for span in spans(inventory) if span["traceId"] == TRACE_ID]
    [client] = [span for span in orders_spans if span["kind"] == 3]
    [server] = [span for span in inventory_spans if span["kind"] == 2]
    assert server["parentSpanId"] == client["spanId"]
