"""The extension's probes against a real stack: they measure what a fault does, and the orders placed."""

from __future__ import annotations

from typing import Any

import pytest

from chaos.extension import actions, probes
from chaos.extension.orders import read_ledger
from chaos.extension.stack import state_dir
from chaos.extension.timeline import read_timeline

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("stack")]


def test_the_latency_probe_sees_a_toxic_on_the_edge_orders_cross(conf: dict[str, Any]) -> None:
    args = {"percentile": 50, "rate": 10, "duration": 1, "mix": "order=1", "configuration": conf}
    healthy = probes.shop_latency(**args)
    actions.add_toxic(
        "latency", caller="gateway", callee="orders", attributes={"latency": 300}, configuration=conf
    )
    try:
        slowed = probes.shop_latency(**args)
    finally:
        actions.remove_toxics(configuration=conf)
    assert 0 <= healthy < 0.3
    assert slowed >= 0.3  # every order's answer waits for the toxic (browsing would hit the gateway's cache)
    activities = set(read_timeline(state_dir(conf))["activity"])
    assert "shop_latency p50" in activities


def test_the_error_rate_probe_sees_orders_fail_when_inventory_resets(conf: dict[str, Any]) -> None:
    args = {"rate": 10, "duration": 1, "mix": "order=1", "configuration": conf}
    actions.add_toxic(
        "reset_peer", caller="orders", callee="inventory", attributes={"timeout": 0}, configuration=conf
    )
    try:
        failing = probes.shop_error_rate(**args)
    finally:
        actions.remove_toxics(configuration=conf)
    assert failing > 0.5


def test_orders_placed_through_resets_are_acknowledged_once_and_stock_is_conserved(
    conf: dict[str, Any],
) -> None:
    actions.add_toxic("reset_peer", attributes={"timeout": 20}, toxicity=0.3, configuration=conf)
    try:
        placed = actions.place_orders(count=60, concurrency=4, configuration=conf)
    finally:
        actions.remove_toxics(configuration=conf)
    assert placed["orders"] == 60
    assert placed["acknowledged"] + placed["rejected"] + placed["unanswered"] == 60
    assert placed["acknowledged"] >= 1
    ledger = read_ledger(state_dir(conf))
    assert sum(entry["status"] == 201 for entry in ledger) >= placed["acknowledged"]
    assert probes.acknowledged_orders_missing(configuration=conf) == 0
    assert probes.duplicate_orders(configuration=conf) == 0
    assert probes.stock_discrepancies(configuration=conf) == 0
    assert 0 < probes.order_listing_seconds(configuration=conf) < 30
