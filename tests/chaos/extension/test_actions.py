"""The extension's actions against a real stack: toxics by edge, crashes and restarts, outages."""

from __future__ import annotations

import time
from typing import Any

import pytest

from chaos.extension import actions, probes
from chaos.extension.stack import ExperimentError, state_of, toxiproxy
from live.config.client import ConfigClient

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("stack")]


def _toxics(conf: dict[str, Any]) -> dict[str, list[str]]:
    client = toxiproxy(conf)
    proxies = client.proxies().items()
    return {name: [toxic["name"] for toxic in proxy["toxics"]] for name, proxy in proxies if proxy["toxics"]}


def test_a_toxic_goes_on_exactly_the_edges_named_and_comes_off_again(conf: dict[str, Any]) -> None:
    placed = actions.add_toxic(
        "latency", caller="orders", callee="inventory", attributes={"latency": 50}, configuration=conf
    )
    try:
        assert placed == ["orders__inventory-1"]
        assert _toxics(conf) == {"orders__inventory-1": ["latency_downstream"]}
        every = actions.add_toxic("noop", callee="config", name="quiet", configuration=conf)
        assert every == ["gateway__config-1", "orders__config-1"]
    finally:
        removed = actions.remove_toxics(configuration=conf)
    assert removed == 3
    assert _toxics(conf) == {}
    assert actions.remove_toxics(configuration=conf) == 0  # nothing left: still no error


def test_an_edge_that_does_not_exist_is_a_clear_error(conf: dict[str, Any]) -> None:
    with pytest.raises(ExperimentError, match="no edge from 'users' to '\\*'"):
        actions.add_toxic("latency", caller="users", configuration=conf)


def _wait_until(condition: Any, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_a_killed_instance_is_restarted_on_its_old_port(conf: dict[str, Any]) -> None:
    before = {record.instance: record for record in state_of(conf).instances}
    assert actions.kill_instance("inventory-1", configuration=conf) == "inventory-1"
    assert _wait_until(lambda: not before["inventory-1"].handle.alive())
    assert probes.service_ready("inventory", configuration=conf) is False
    assert actions.restart_instances(configuration=conf) == ["inventory-1"]
    after = {record.instance: record for record in state_of(conf).instances}
    assert after["inventory-1"].pid != before["inventory-1"].pid
    assert after["inventory-1"].port == before["inventory-1"].port
    assert probes.service_ready("inventory", configuration=conf) is True
    assert actions.restart_instances(configuration=conf) == []  # nothing gone: nothing to do


def test_without_the_registry_the_shop_serves_from_discovery_caches(conf: dict[str, Any]) -> None:
    registry = state_of(conf).url("registry")
    assert probes.shop_error_rate(rate=10, duration=1, configuration=conf) == 0.0  # caches warm
    assert actions.stop_service("registry", configuration=conf) == ["registry-1"]
    try:
        assert probes.service_ready("registry", configuration=conf) is False
        time.sleep(2)  # every cached answer is now older than the refresh interval (1 s)
        assert probes.shop_error_rate(rate=10, duration=2, configuration=conf) == 0.0
    finally:
        assert actions.start_service("registry", configuration=conf) == ["registry-1"]
    assert state_of(conf).url("registry") == registry
    assert probes.service_ready("registry", configuration=conf) is True


def test_run_time_configuration_is_set_and_unset(conf: dict[str, Any]) -> None:
    entry = actions.set_config("gateway.routes.orders.breaker", None, configuration=conf)
    assert entry["value"] is None
    assert actions.unset_config("gateway.routes.orders.breaker", configuration=conf) is True
    client = ConfigClient.for_stack(state_of(conf).path.parent)
    assert all(e["key"] != "gateway.routes.orders.breaker" for e in client.list("gateway.routes")["entries"])
    assert actions.unset_config("gateway.routes.orders.breaker", configuration=conf) is False
