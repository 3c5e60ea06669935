"""Tests for simulator.topology: visit ratios, the call graph, its checks and its drawing.

Scenarios are built with ``Scenario.model_validate`` (the schema alone), so that references the
topology checks are meant to catch (unknown services, cycles, ...) can be constructed; the expected
visit counts are worked out by hand from the route definitions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import networkx as nx
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from simulator.loader import load_scenario
from simulator.scenario import CLIENT, Scenario
from simulator.topology import (
    CallSite,
    build_topology,
    call_sites,
    check_topology,
    draw_topology,
    route_visits,
)
from tests.simulator.bundled import SCENARIOS


def _service(**extra: Any) -> dict[str, Any]:
    return {"service_time": {"dist": "exponential", "mean": "1ms"}, **extra}


def _scenario(
    routes: dict[str, list[dict[str, Any]]],
    services: list[str] | dict[str, dict[str, Any]] = ("a", "b", "c"),
    workloads: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> Scenario:
    if not isinstance(services, dict):
        services = {name: _service() for name in services}
    if workloads is None:
        workloads = [{"route": name, "arrivals": {"process": "poisson", "rate": 1}} for name in routes]
    data = {
        "name": "topo",
        "duration": 10,
        "services": services,
        "routes": routes,
        "workloads": workloads,
        **extra,
    }
    return Scenario.model_validate(data)


def _call(name: str, *calls: dict[str, Any]) -> dict[str, Any]:
    return {"call": name, "calls": list(calls)} if calls else {"call": name}


@pytest.fixture(autouse=True)
def _close_figures() -> Any:
    yield
    plt.close("all")


# --- route_visits ------------------------------------------------------------------------------


def test_sequence_of_distinct_calls_visits_each_once() -> None:
    scenario = _scenario({"r": [_call("a"), _call("b"), _call("c")]})
    assert route_visits(scenario, "r") == {"a": 1.0, "b": 1.0, "c": 1.0}


def test_repeated_calls_add_up() -> None:
    scenario = _scenario({"r": [_call("a"), {"sequence": [_call("a"), _call("b")]}, _call("a")]})
    assert route_visits(scenario, "r") == {"a": 3.0, "b": 1.0}


def test_branch_is_probability_weighted() -> None:
    scenario = _scenario(
        {
            "r": [
                {
                    "branch": [
                        {"probability": 0.3, "steps": [_call("a")]},
                        {"probability": 0.5, "steps": [_call("b"), _call("a")]},
                    ]
                }
            ]
        }
    )
    visits = route_visits(scenario, "r")
    # The remaining 0.2 of requests take no branch at all.
    assert visits == pytest.approx({"a": 0.8, "b": 0.5})


@pytest.mark.parametrize(
    ("times", "repeat", "expected"),
    [(1, 0.0, 1.0), (3, 0.0, 3.0), (2, 0.5, 3.0), (1, 0.3, 1 / 0.7), (4, 0.75, 7.0), (1, 0.9, 10.0)],
)
def test_loop_runs_times_plus_a_geometric_number_of_repeats(
    times: int, repeat: float, expected: float
) -> None:
    scenario = _scenario(
        {"r": [{"loop": [_call("a"), _call("b")], "times": times, "repeat_probability": repeat}]}
    )
    assert route_visits(scenario, "r") == pytest.approx({"a": expected, "b": expected})


def test_parallel_visits_every_arm_once() -> None:
    scenario = _scenario({"r": [{"parallel": [_call("a"), {"sequence": [_call("b"), _call("c")]}]}]})
    assert route_visits(scenario, "r") == {"a": 1.0, "b": 1.0, "c": 1.0}


def test_nested_calls_count_as_visits_of_the_callee() -> None:
    scenario = _scenario({"r": [_call("a", _call("b", _call("c"), _call("c")))]})
    assert route_visits(scenario, "r") == {"a": 1.0, "b": 1.0, "c": 2.0}


def test_weights_multiply_through_loop_branch_and_nested_calls() -> None:
    # loop: 2 + 0.5/0.5 = 3 runs; branch: 0.4; a calls b twice.
    step = {
        "loop": [{"branch": [{"probability": 0.4, "steps": [_call("a", _call("b"), _call("b"))]}]}],
        "times": 2,
        "repeat_probability": 0.5,
    }
    scenario = _scenario({"r": [step, _call("c")]})
    assert route_visits(scenario, "r") == pytest.approx({"a": 1.2, "b": 2.4, "c": 1.0})


def test_route_visits_only_counts_the_named_route() -> None:
    scenario = _scenario({"r": [_call("a")], "s": [_call("b"), _call("b")]})
    assert route_visits(scenario, "r") == {"a": 1.0}
    assert route_visits(scenario, "s") == {"b": 2.0}


def test_route_visits_of_the_bundled_feedback_network() -> None:
    scenario = load_scenario(SCENARIOS / "feedback.yaml")
    # Jackson visit ratios: 1 / (1 - 0.3) at both stations.
    assert route_visits(scenario, "main") == pytest.approx({"frontend": 1 / 0.7, "worker": 1 / 0.7})


def test_route_visits_of_the_shop_checkout() -> None:
    scenario = load_scenario(SCENARIOS / "shop.yaml")
    assert route_visits(scenario, "checkout") == {
        "gateway": 1.0,
        "users": 1.0,
        "inventory": 1.0,
        "payments": 1.0,
        "orders": 1.0,
        "database": 3.0,
    }


# --- call_sites -------------------------------------------------------------------------------


def test_call_sites_name_caller_callee_location_and_weight() -> None:
    scenario = _scenario(
        {
            "r": [
                _call("a", {"parallel": [_call("b"), _call("c")]}),
                {"branch": [{"probability": 0.25, "steps": [_call("b")]}]},
                {"loop": [_call("c", _call("b"))], "times": 2},
            ]
        }
    )
    sites = list(call_sites(scenario.routes["r"], CLIENT, ("routes", "r")))
    assert sites == [
        CallSite(CLIENT, "a", ("routes", "r", 0, "call"), 1.0),
        CallSite("a", "b", ("routes", "r", 0, "calls", 0, "parallel", 0, "call"), 1.0),
        CallSite("a", "c", ("routes", "r", 0, "calls", 0, "parallel", 1, "call"), 1.0),
        CallSite(CLIENT, "b", ("routes", "r", 1, "branch", 0, "steps", 0, "call"), 0.25),
        CallSite(CLIENT, "c", ("routes", "r", 2, "loop", 0, "call"), 2.0),
        CallSite("c", "b", ("routes", "r", 2, "loop", 0, "calls", 0, "call"), 2.0),
    ]


# --- build_topology ----------------------------------------------------------------------------


def test_graph_has_the_client_and_every_service_with_their_attributes() -> None:
    services = {"gw": _service(kind="gateway", replicas=2, concurrency=8), "db": _service(kind="database")}
    scenario = _scenario({"r": [_call("gw", _call("db"))]}, services=services)
    graph = build_topology(scenario)
    assert set(graph.nodes) == {CLIENT, "gw", "db"}
    assert graph.nodes[CLIENT]["kind"] == "client"
    assert graph.nodes["gw"] == {"kind": "gateway", "replicas": 2, "concurrency": 8}
    assert graph.nodes["db"] == {"kind": "database", "replicas": 1, "concurrency": 1}
    assert set(graph.edges) == {(CLIENT, "gw"), ("gw", "db")}


def test_edges_carry_visits_routes_loc_and_used() -> None:
    scenario = _scenario(
        {
            "r": [_call("a", _call("b"), _call("b"))],
            "s": [{"branch": [{"probability": 0.5, "steps": [_call("a", _call("b"))]}]}],
        }
    )
    graph = build_topology(scenario)
    client_a = graph.edges[CLIENT, "a"]
    assert client_a["visits"] == pytest.approx(1.5)
    assert client_a["routes"] == ["r", "s"]
    assert client_a["used"] is True
    assert client_a["loc"] == ("routes", "r", 0, "call")
    a_b = graph.edges["a", "b"]
    assert a_b["visits"] == pytest.approx(2.5)
    assert a_b["routes"] == ["r", "s"]
    assert a_b["loc"] == ("routes", "r", 0, "calls", 0, "call")


def test_edges_of_a_route_no_workload_uses_are_kept_but_unused() -> None:
    scenario = _scenario(
        {"r": [_call("a")], "spare": [_call("a", _call("b"))]},
        workloads=[{"route": "r", "users": 1}],
    )
    graph = build_topology(scenario)
    assert graph.edges[CLIENT, "a"]["visits"] == 1.0
    assert graph.edges[CLIENT, "a"]["routes"] == ["r"]
    spare = graph.edges["a", "b"]
    assert spare["used"] is False
    assert spare["visits"] == 0.0
    assert spare["routes"] == []
    assert spare["loc"] == ("routes", "spare", 0, "calls", 0, "call")


def test_calls_to_unknown_services_are_not_edges() -> None:
    scenario = _scenario({"r": [_call("a", _call("ghost", _call("b")))]})
    graph = build_topology(scenario)
    assert "ghost" not in graph
    assert set(graph.edges) == {(CLIENT, "a")}


def test_shop_call_graph() -> None:
    graph = build_topology(load_scenario(SCENARIOS / "shop.yaml"))
    assert set(graph.edges) == {
        (CLIENT, "gateway"),
        ("gateway", "inventory"),
        ("gateway", "users"),
        ("gateway", "payments"),
        ("gateway", "orders"),
        ("inventory", "database"),
        ("users", "database"),
        ("payments", "database"),
        ("orders", "database"),
    }
    assert graph.edges[CLIENT, "gateway"]["visits"] == 3.0  # one per route, three routes
    assert graph.edges["inventory", "database"]["visits"] == 2.0
    assert graph.edges["inventory", "database"]["routes"] == ["browse", "checkout"]
    assert graph.edges["payments", "database"]["loc"] == (
        "routes",
        "checkout",
        0,
        "calls",
        1,
        "parallel",
        1,
        "calls",
        0,
        "call",
    )
    assert nx.is_directed_acyclic_graph(graph)


# --- check_topology ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_bundled_scenarios_have_no_findings(path: Path) -> None:
    assert check_topology(load_scenario(path)) == []


def test_unknown_service() -> None:
    scenario = _scenario({"r": [_call("a", {"sequence": [_call("ghost")]})]}, services=["a"])
    [problem] = check_topology(scenario)
    assert problem.loc == ("routes", "r", 0, "calls", 0, "sequence", 0, "call")
    assert problem.message == "unknown service 'ghost'; known: a"


def test_unknown_service_in_a_route_no_workload_uses() -> None:
    scenario = _scenario(
        {"r": [_call("a")], "spare": [_call("ghost")]}, services=["a"], workloads=[{"route": "r", "users": 1}]
    )
    [problem] = check_topology(scenario)
    assert problem.loc == ("routes", "spare", 0, "call")
    assert "'ghost'" in problem.message


def test_unknown_route() -> None:
    scenario = _scenario(
        {"r": [_call("a")]},
        services=["a"],
        workloads=[{"route": "r", "users": 1}, {"route": "nowhere", "users": 1}],
    )
    [problem] = check_topology(scenario)
    assert problem.loc == ("workloads", 1, "route")
    assert problem.message == "unknown route 'nowhere'; known: r"


def test_unknown_network_edge_endpoints() -> None:
    edges = [
        {"from": "a", "to": "ghost", "latency": "1ms"},
        {"from": "phantom", "to": "a", "latency": "1ms"},
        {"from": CLIENT, "to": "a", "latency": "1ms"},
    ]
    scenario = _scenario({"r": [_call("a")]}, services=["a"], network={"edges": edges})
    problems = check_topology(scenario)
    assert [(p.loc, p.message) for p in problems] == [
        (("network", "edges", 0, "to"), "unknown service 'ghost'"),
        (("network", "edges", 1, "from"), "unknown service 'phantom'"),
    ]


def test_two_service_cycle() -> None:
    scenario = _scenario({"r": [_call("a", _call("b", _call("a")))]}, services=["a", "b"])
    [problem] = check_topology(scenario)
    closing = {
        "a -> b -> a": ("routes", "r", 0, "calls", 0, "calls", 0, "call"),
        "b -> a -> b": ("routes", "r", 0, "calls", 0, "call"),
    }
    ring = next(r for r in closing if r in problem.message)
    assert problem.loc == closing[ring]
    assert problem.message == f"call cycle {ring}: a service would wait on itself"


def test_self_call_cycle() -> None:
    scenario = _scenario({"r": [_call("a", _call("a"))]}, services=["a"])
    [problem] = check_topology(scenario)
    assert problem.loc == ("routes", "r", 0, "calls", 0, "call")
    assert problem.message.startswith("call cycle a -> a")


def test_three_service_cycle_across_routes() -> None:
    scenario = _scenario(
        {"r": [_call("a", _call("b"))], "s": [_call("b", _call("c"))], "t": [_call("c", _call("a"))]}
    )
    [problem] = check_topology(scenario)
    assert "call cycle" in problem.message
    rings = {"a -> b -> c -> a", "b -> c -> a -> b", "c -> a -> b -> c"}
    assert any(ring in problem.message for ring in rings), problem.message


def test_every_cycle_is_reported() -> None:
    scenario = _scenario({"r": [_call("a", _call("a"), _call("b", _call("b")))]}, services=["a", "b"])
    problems = check_topology(scenario)
    assert sorted(p.message.split(":")[0] for p in problems) == ["call cycle a -> a", "call cycle b -> b"]


def test_unreachable_services() -> None:
    scenario = _scenario({"r": [_call("a")]}, services=["a", "b", "c"])
    problems = check_topology(scenario)
    assert [(p.loc, p.message) for p in problems] == [
        (("services", "b"), "service 'b' is not reached by any workload's route"),
        (("services", "c"), "service 'c' is not reached by any workload's route"),
    ]


def test_service_only_on_an_unused_route_is_unreachable() -> None:
    scenario = _scenario(
        {"r": [_call("a")], "spare": [_call("a", _call("b"))]},
        services=["a", "b"],
        workloads=[{"route": "r", "users": 1}],
    )
    [problem] = check_topology(scenario)
    assert problem.loc == ("services", "b")


def test_unreachable_is_not_reported_on_top_of_other_problems() -> None:
    scenario = _scenario({"r": [_call("a", _call("ghost"))]}, services=["a", "b"])
    problems = check_topology(scenario)
    assert [p.loc for p in problems] == [("routes", "r", 0, "calls", 0, "call")]


def test_all_kinds_of_findings_together() -> None:
    scenario = _scenario(
        {"r": [_call("a", _call("a"), _call("ghost"))]},
        services=["a"],
        workloads=[{"route": "r", "users": 1}, {"route": "nowhere", "users": 1}],
        network={"edges": [{"from": "a", "to": "phantom", "latency": 0}]},
    )
    locs = {p.loc for p in check_topology(scenario)}
    assert locs == {
        ("routes", "r", 0, "calls", 1, "call"),
        ("workloads", 1, "route"),
        ("network", "edges", 0, "to"),
        ("routes", "r", 0, "calls", 0, "call"),
    }


def test_a_service_named_client_is_not_a_cycle() -> None:
    scenario = _scenario({"r": [_call("client")]}, services=["client"])
    assert not any("cycle" in p.message for p in check_topology(scenario))


# --- draw_topology -----------------------------------------------------------------------------


def _texts(ax: Axes) -> list[str]:
    return [text.get_text() for text in ax.texts]


def test_draw_on_a_given_axes_labels_every_service() -> None:
    scenario = load_scenario(SCENARIOS / "shop.yaml")
    ax = Figure().subplots()
    assert draw_topology(scenario, ax) is ax
    texts = _texts(ax)
    assert CLIENT in texts
    for name, service in scenario.services.items():
        assert f"{name}\n{service.replicas}×{service.concurrency}" in texts
    assert "shop" in ax.get_title()
    assert not ax.axison


def test_edge_labels_name_the_routes() -> None:
    scenario = load_scenario(SCENARIOS / "shop.yaml")
    texts = _texts(draw_topology(scenario, Figure().subplots()))
    assert "browse, checkout, profile" in texts  # client -> gateway
    assert "browse, checkout" in texts  # gateway -> inventory, inventory -> database
    assert "profile" in texts  # users -> database


def test_edge_label_shortens_a_long_list_of_routes() -> None:
    routes = {name: [_call("a")] for name in ("r1", "r2", "r3", "r4", "r5")}
    texts = _texts(draw_topology(_scenario(routes, services=["a"]), Figure().subplots()))
    assert "r1, r2, r3 +2" in texts


def test_draw_without_axes_makes_a_figure() -> None:
    scenario = load_scenario(SCENARIOS / "tandem.yaml")
    ax = draw_topology(scenario)
    assert isinstance(ax, Axes)
    assert ax.figure is not None
    assert {"a\n1×1", "b\n1×1", "c\n1×1", CLIENT} <= set(_texts(ax))


def test_drawing_does_not_change_the_pyplot_backend() -> None:
    before = matplotlib.get_backend()
    draw_topology(load_scenario(SCENARIOS / "mm1.yaml"), Figure().subplots())
    assert matplotlib.get_backend() == before
