"""``live up --chaos``: a Toxiproxy proxy on every edge, and callers' traffic really crossing them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.client import ToxiproxyClient
from chaos.edges import edges_of
from chaos.hook import ChaosHook, chaos_of
from chaos.toxiproxy import EmbeddedToxiproxy
from live.common.edges import EDGES_FILE
from live.supervisor import Stack, StackState
from tests.live.conftest import running_stack
from tests.live.http import call

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("stack")]

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def chaos_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("chaos-stack"), hooks=[ChaosHook()]) as started:
        yield started


def _client(stack: Stack) -> ToxiproxyClient:
    record = chaos_of(stack.state)
    assert record is not None
    return ToxiproxyClient(record.url)


def _routes(stack: Stack) -> dict[str, dict[str, str]]:
    return json.loads((stack.state_dir / EDGES_FILE).read_text())


def test_every_edge_has_a_proxy_to_its_instance_and_edges_json_names_it(chaos_stack: Stack) -> None:
    proxies = _client(chaos_stack).proxies()
    ports = {record.instance: record.port for record in chaos_stack.state.instances}
    assert "orders__inventory-1" in proxies
    assert "gateway__users-1" in proxies
    assert set(proxies) == {edge.proxy for edge in edges_of(chaos_stack.state)}
    routes = _routes(chaos_stack)
    for name, proxy in proxies.items():
        caller, _, instance = name.partition("__")
        assert proxy["upstream"] == f"127.0.0.1:{ports[instance]}"
        assert routes[caller][instance] == proxy["listen"]


def _timed_get(url: str) -> tuple[int, float]:
    start = time.monotonic()
    answer = call("GET", url, timeout=30)
    return answer.status, time.monotonic() - start


def test_a_latency_toxic_on_an_edge_delays_that_callers_calls_only(chaos_stack: Stack) -> None:
    client = _client(chaos_stack)
    item = f"{chaos_stack.state.url('gateway')}/api/inventory/items/KB-001"
    direct = f"{chaos_stack.state.url('inventory')}/inventory/items/KB-001"
    client.add_toxic("gateway__inventory-1", {"type": "latency", "attributes": {"latency": 400}})
    try:
        through, slow = _timed_get(item)
        assert through == 200
        assert slow >= 0.4  # the toxic holds the answer back at least that long
        status, _ = _timed_get(direct)  # not the gateway: no proxy in the way, and still served
        assert status == 200
    finally:
        client.reset()
    proxies = client.proxies()
    assert all(not proxy["toxics"] for proxy in proxies.values())


def test_a_reset_peer_toxic_on_orders_to_inventory_fails_order_placement(chaos_stack: Stack) -> None:
    client = _client(chaos_stack)
    gateway = chaos_stack.state.url("gateway")
    credentials = {"username": "hook-tester", "password": "a-long-enough-password"}
    assert call("POST", f"{gateway}/api/users", json_body=credentials).status in (200, 201)
    token = call("POST", f"{gateway}/api/users/token", form=credentials).body["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "hook-1"}
    order = {"items": [{"sku": "KB-001", "quantity": 1}]}
    client.add_toxic("orders__inventory-1", {"type": "reset_peer", "attributes": {"timeout": 0}})
    try:
        refused = call("POST", f"{gateway}/api/orders", json_body=order, headers=headers, timeout=30)
        assert refused.status == 503, refused.body
    finally:
        client.reset()
    placed = call("POST", f"{gateway}/api/orders", json_body=order, headers=headers, timeout=30)
    assert placed.status == 201, placed.body  # the same key settles the pending order once the edge heals


def test_scaling_adds_and_removes_the_proxies_of_instances(chaos_stack: Stack) -> None:
    client = _client(chaos_stack)
    chaos_stack.scale("inventory", 2)
    try:
        assert {"gateway__inventory-2", "orders__inventory-2"} <= set(client.proxies())
        assert "inventory-2" in _routes(chaos_stack)["orders"]
    finally:
        chaos_stack.scale("inventory", 1)
    assert "orders__inventory-2" not in client.proxies()
    assert "inventory-2" not in _routes(chaos_stack)["orders"]


@pytest.mark.parametrize("kind", ["embedded", "external"])
def test_down_removes_edges_and_stops_or_cleans_toxiproxy(tmp_path: Path, kind: str) -> None:
    with EmbeddedToxiproxy() as external:
        hook = ChaosHook(external.url if kind == "external" else None)
        with running_stack(tmp_path / "stack", hooks=[hook]) as stack:
            record = chaos_of(stack.state)
            assert record is not None
            assert record.external == (kind == "external")
            assert "orders__inventory-1" in ToxiproxyClient(record.url).proxies()
        assert not (tmp_path / "stack" / EDGES_FILE).exists()
        if kind == "external":
            assert ToxiproxyClient(external.url).proxies() == {}  # the user's server runs on, emptied
        else:
            assert not record.handle.alive()


def _live(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from servicelab_cli import main; main()", "live", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_live_up_chaos_and_live_down_from_other_processes(tmp_path: Path) -> None:
    refused = _live("up", "--toxiproxy-url", "http://127.0.0.1:8474", "--state-dir", str(tmp_path))
    assert refused.returncode == 1
    assert "--toxiproxy-url: only with --chaos" in refused.stderr
    started = _live("up", "--chaos", "--state-dir", str(tmp_path))
    try:
        assert started.returncode == 0, started.stderr
        assert "toxiproxy: http://127.0.0.1:" in started.stdout
        record = chaos_of(StackState.load(tmp_path))
        assert record is not None
        assert record.handle.alive()
    finally:
        stopped = _live("down", "--state-dir", str(tmp_path))
    assert stopped.returncode == 0, stopped.stderr
    assert not record.handle.alive()  # `live down` in another process found the hook and stopped it
    assert not (tmp_path / EDGES_FILE).exists()
