"""A caller's view of an edge moves to the proxy written in edges.json, and back when it is removed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from live.common.edges import EdgeMap, write_edges
from live.common.instances import InstanceInfo

INVENTORY = InstanceInfo("inventory", "inventory-1", "127.0.0.1", 5001)


def test_without_a_file_instances_are_called_directly(tmp_path: Path) -> None:
    assert EdgeMap(tmp_path, "orders").route(INVENTORY) == INVENTORY


def test_a_proxy_applies_to_its_caller_only_and_follows_changes(tmp_path: Path) -> None:
    orders, gateway = EdgeMap(tmp_path, "orders"), EdgeMap(tmp_path, "gateway")
    path = write_edges(tmp_path, {"orders": {"inventory-1": "127.0.0.1:6001"}})
    routed = orders.route(INVENTORY)
    assert (routed.instance, routed.host, routed.port) == ("inventory-1", "127.0.0.1", 6001)
    assert gateway.route(INVENTORY) == INVENTORY
    write_edges(tmp_path, {"orders": {"inventory-1": "127.0.0.1:6002"}})
    stamp = path.stat().st_mtime + 1  # a new modification time even on a coarse clock
    os.utime(path, (stamp, stamp))
    assert orders.route(INVENTORY).port == 6002
    path.unlink()
    assert orders.route(INVENTORY) == INVENTORY


def test_a_proxy_off_loopback_is_refused(tmp_path: Path) -> None:
    write_edges(tmp_path, {"orders": {"inventory-1": "10.1.2.3:6001"}})
    with pytest.raises(ValueError, match=r"orders\.inventory-1.*is not 127\.0\.0\.1:PORT"):
        EdgeMap(tmp_path, "orders").route(INVENTORY)
