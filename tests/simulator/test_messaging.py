"""The messaging schema, its place in the topology, and the engine's plumbing (records, report)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure

from simulator import Scenario, ScenarioError, scenario_from_dict, simulate
from simulator.comparison import run_comparison
from simulator.report import write_report
from simulator.topology import build_topology, draw_topology


def deterministic(value: str) -> dict[str, Any]:
    return {"dist": "deterministic", "value": value}


def loop_back(**overrides: Any) -> Scenario:
    """orders publishes to ``placed``; shipping consumes it, calls stock, and publishes to ``shipped``,
    which orders itself consumes: a cycle through the broker (fine: nobody waits on it)."""
    data: dict[str, Any] = {
        "name": "loop",
        "duration": "10s",
        "services": {
            "orders": {"concurrency": 100, "service_time": deterministic("2ms")},
            "shipping": {"concurrency": 10, "service_time": deterministic("10ms")},
            "stock": {"concurrency": 10, "service_time": deterministic("1ms")},
        },
        "brokers": {"bus": {"queues": {"placed": {}}, "topics": {"shipped": {"partitions": 4}}}},
        "routes": {
            "checkout": [{"call": "orders", "calls": [{"publish": {"broker": "bus", "queue": "placed"}}]}],
            "ship": [{"call": "stock"}, {"publish": {"broker": "bus", "topic": "shipped"}}],
        },
        "consumers": [
            {"name": "shipping", "service": "shipping", "broker": "bus", "queue": "placed", "route": "ship"},
            {"name": "track", "service": "orders", "broker": "bus", "topic": "shipped", "group": "tracking"},
        ],
        "workloads": [{"route": "checkout", "arrivals": {"process": "constant", "rate": "10/s"}}],
    }
    data.update(overrides)
    return scenario_from_dict(data)


def test_brokers_are_nodes_and_consumer_routes_are_called_by_the_consumer() -> None:
    graph = build_topology(loop_back())
    assert graph.nodes["bus"]["kind"] == "broker"
    assert graph.edges["orders", "bus"]["used"]
    assert graph.edges["bus", "shipping"]["routes"] == ["placed"]
    assert graph.edges["bus", "orders"]["routes"] == ["shipped:tracking"]
    assert graph.edges["shipping", "stock"]["used"]
    assert graph.edges["shipping", "bus"]["used"]
    assert not graph.has_edge("client", "stock")


def test_a_cycle_through_a_broker_is_allowed_and_drawn() -> None:
    scenario = loop_back()
    ax = draw_topology(scenario, Figure().subplots())
    assert ax.get_title().startswith("loop")


def test_every_flow_ends_acked_and_messages_carry_the_publishing_request() -> None:
    """Without latency a publish is instantaneous; each request leads to one message in each channel,
    both recorded with its id; topic messages go to partition id mod 4 (no keys drawn)."""
    result = simulate(loop_back())
    messages = result.messages
    assert set(messages["outcome"]) == {"acked"}
    by_channel = messages.groupby("channel", observed=True)["request"].apply(sorted)
    assert by_channel["placed"] == sorted(result.requests["request"])
    assert by_channel["shipped:tracking"] == sorted(result.requests["request"])
    shipped = messages[messages["channel"] == "shipped:tracking"]
    np.testing.assert_array_equal(shipped["partition"], shipped["request"] % 4)
    assert (messages["broker"] == "bus").all()
    placed = messages[messages["channel"] == "placed"]
    np.testing.assert_allclose(placed["lag"], 0.011)  # shipping 10 ms + stock 1 ms, nobody waits


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"consumers": [{"name": "x", "service": "nobody", "broker": "bus", "queue": "placed"}]},
            "unknown service",
        ),
        (
            {
                "consumers": [
                    {"name": "x", "service": "orders", "broker": "bus", "queue": "placed", "route": "r"}
                ]
            },
            "unknown route",
        ),
        (
            {"consumers": [{"name": "x", "service": "orders", "broker": "nope", "queue": "placed"}]},
            "unknown broker",
        ),
        (
            {"consumers": [{"name": "x", "service": "orders", "broker": "bus", "topic": "nope"}]},
            "has no topic",
        ),
        (
            {
                "consumers": [
                    {"name": "a", "service": "orders", "broker": "bus", "queue": "placed"},
                    {"name": "b", "service": "shipping", "broker": "bus", "queue": "placed"},
                ]
            },
            "already read by consumer 0",
        ),
        ({"brokers": {"orders": {"queues": {"placed": {}}}}}, "has the name of a service"),
        ({"brokers": {"bus": {"queues": {"x": {}}, "topics": {"x": {}}}}}, "both a queue and a topic"),
    ],
)
def test_mistakes_are_reported_not_raised(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        loop_back(**change)


def test_a_network_edge_may_name_a_broker() -> None:
    scenario = loop_back(network={"edges": [{"from": "orders", "to": "bus", "latency": "3ms"}]})
    result = simulate(scenario)
    assert result.requests["latency"].iloc[0] == pytest.approx(0.002 + 0.006)  # work, publish and confirm


def test_the_report_has_messages_and_backlog_plots(tmp_path: Path) -> None:
    written = {path.name for path in write_report(run_comparison(loop_back()), tmp_path)}
    assert {"messages.csv", "backlog.png", "message_lag.png"} <= written
    assert "Queues and consumer groups" in (tmp_path / "report.md").read_text()
