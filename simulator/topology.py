"""The architecture as a graph: who calls whom, how often, and whether that makes sense.

:func:`build_topology` turns a scenario into a networkx ``DiGraph`` whose nodes are the services plus
the ``client`` (the source of every workload) and whose edges are calls, weighted by the mean number
of calls per request of each workload (``visits``). :func:`check_topology` reports what the schema
alone cannot see: references to services or routes that do not exist, call cycles (a service that
ends up calling itself would deadlock a thread-per-request system), services no workload reaches, and
faults that name unknown services, replicas out of range, or edges along which no route calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import networkx as nx

from simulator.database import EVENT_OPS
from simulator.errors import Loc, Problem
from simulator.faults import (
    BrownoutFault,
    ChaosMonkeyFault,
    CrashesFault,
    ErrorFault,
    LatencyFault,
    PartitionFault,
    ReplicaFault,
    SlowReplicaFault,
)
from simulator.figures import axes_or_new
from simulator.scenario import (
    CLIENT,
    BranchStep,
    CallStep,
    LoopStep,
    ParallelStep,
    Scenario,
    SequenceStep,
    Step,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["CallSite", "build_topology", "call_sites", "check_topology", "draw_topology", "route_visits"]


@dataclass(frozen=True, slots=True)
class CallSite:
    """One ``call`` step: who makes it, whom it calls, where it is written, and its mean count per request."""

    caller: str
    callee: str
    loc: Loc
    visits: float
    op: str | None = None


def _loop_visits(step: LoopStep) -> float:
    # ``times`` runs, then a geometric number of extra runs with mean p / (1 - p).
    return step.times + step.repeat_probability / (1 - step.repeat_probability)


def call_sites(steps: list[Step], caller: str, loc: Loc, weight: float = 1.0) -> Iterator[CallSite]:
    """Every call step under ``steps``, made by ``caller``, with its expected count per request."""
    for index, step in enumerate(steps):
        here = (*loc, index)
        match step:
            case CallStep():
                yield CallSite(caller, step.call, (*here, "call"), weight, step.op)
                yield from call_sites(step.calls, step.call, (*here, "calls"), weight)
            case SequenceStep():
                yield from call_sites(step.sequence, caller, (*here, "sequence"), weight)
            case ParallelStep():
                yield from call_sites(step.parallel, caller, (*here, "parallel"), weight)
            case BranchStep():
                for option_index, option in enumerate(step.branch):
                    yield from call_sites(
                        option.steps,
                        caller,
                        (*here, "branch", option_index, "steps"),
                        weight * option.probability,
                    )
            case LoopStep():
                yield from call_sites(step.loop, caller, (*here, "loop"), weight * _loop_visits(step))


def route_visits(scenario: Scenario, route: str) -> dict[str, float]:
    """Mean number of visits to each service by one request of ``route`` (the Jackson visit ratios)."""
    visits: dict[str, float] = {}
    for site in call_sites(scenario.routes[route], CLIENT, ("routes", route)):
        visits[site.callee] = visits.get(site.callee, 0.0) + site.visits
    return visits


def build_topology(scenario: Scenario) -> nx.DiGraph:
    """The call graph of ``scenario``.

    Edge attributes: ``visits`` (mean calls per request, summed over the routes workloads use, each
    route once), ``routes``
    (the sorted names of the workloads' routes that make the call), ``used`` (some workload makes it)
    and ``loc`` (where the first such call is written).
    """
    graph = nx.DiGraph()
    graph.add_node(CLIENT, kind="client")
    for name, service in scenario.services.items():
        graph.add_node(name, kind=service.kind, replicas=service.replicas, concurrency=service.concurrency)
    used_routes = {w.route for w in scenario.workloads}
    for route, steps in scenario.routes.items():
        for site in call_sites(steps, CLIENT, ("routes", route)):
            if site.callee not in scenario.services or site.caller not in graph:
                continue
            if not graph.has_edge(site.caller, site.callee):
                graph.add_edge(site.caller, site.callee, visits=0.0, routes=[], loc=site.loc, used=False)
            edge = graph.edges[site.caller, site.callee]
            if route in used_routes:
                edge["visits"] += site.visits
                edge["used"] = True
                if route not in edge["routes"]:
                    edge["routes"] = sorted([*edge["routes"], route])
    return graph


def check_topology(scenario: Scenario) -> list[Problem]:
    """Everything wrong with the scenario's references and call graph, one :class:`Problem` each."""
    services = scenario.services
    if CLIENT in services:
        return [
            Problem(
                ("services", CLIENT), f"{CLIENT!r} is reserved for the source of the workloads; rename it"
            )
        ]
    problems: list[Problem] = []
    for route, steps in scenario.routes.items():
        for site in call_sites(steps, CLIENT, ("routes", route)):
            if site.callee not in services:
                problems.append(
                    Problem(site.loc, f"unknown service {site.callee!r}; known: {_names(services)}")
                )
    problems += _op_problems(scenario)
    for index, workload in enumerate(scenario.workloads):
        if workload.route not in scenario.routes:
            problems.append(
                Problem(
                    ("workloads", index, "route"),
                    f"unknown route {workload.route!r}; known: {_names(scenario.routes)}",
                )
            )
    for name, service in services.items():
        gateway = service.gateway
        if gateway is None:
            continue
        named = [(("cache", "routes"), gateway.cache.routes)] if gateway.cache else []
        named += [
            (("rate_limits", i, "routes"), limit.routes or []) for i, limit in enumerate(gateway.rate_limits)
        ]
        for where, routes in named:
            for position, route in enumerate(routes):
                if route not in scenario.routes:
                    loc = ("services", name, "gateway", *where, position)
                    problems.append(
                        Problem(loc, f"unknown route {route!r}; known: {_names(scenario.routes)}")
                    )
    for index, edge in enumerate(scenario.network.edges):
        for key, name in (("from", edge.source), ("to", edge.target)):
            if name not in services and name != CLIENT:
                problems.append(Problem(("network", "edges", index, key), f"unknown service {name!r}"))
    graph = build_topology(scenario)
    problems += _fault_problems(scenario, graph)
    for index, edge in enumerate(scenario.resilience.edges):
        loc = ("resilience", "edges", index)
        unknown = [
            (key, name) for key, name in (("from", edge.source), ("to", edge.target)) if name not in graph
        ]
        for key, name in unknown:
            problems.append(Problem((*loc, key), f"unknown service {name!r}"))
        if not unknown and not graph.has_edge(edge.source, edge.target):
            problems.append(Problem(loc, f"no route has {edge.source!r} call {edge.target!r}"))
    calls = graph.subgraph(services)
    for cycle in nx.simple_cycles(calls):
        closing = graph.edges[cycle[-1], cycle[0]]["loc"]
        ring = " -> ".join([*cycle, cycle[0]])
        problems.append(Problem(closing, f"call cycle {ring}: a service would wait on itself"))
    if not problems:
        used = nx.DiGraph((u, v) for u, v, used in graph.edges(data="used") if used)
        reached = nx.descendants(used, CLIENT) if CLIENT in used else set()
        for name in services:
            if name not in reached:
                problems.append(
                    Problem(("services", name), f"service {name!r} is not reached by any workload's route")
                )
    return problems


def _op_problems(scenario: Scenario) -> list[Problem]:
    """Database operations on services that cannot serve them, or on edges that hedge."""
    problems = []
    for route, steps in scenario.routes.items():
        for site in call_sites(steps, CLIENT, ("routes", route)):
            service = scenario.services.get(site.callee)
            if site.op is None or service is None:
                continue
            loc = (*site.loc[:-1], "op")
            if service.kind != "database":
                problems.append(
                    Problem(
                        loc,
                        f"op: {site.op} needs a kind: database service; {site.callee!r} is {service.kind}",
                    )
                )
            elif site.op in EVENT_OPS and service.event_store is None:
                problems.append(Problem(loc, f"op: {site.op} needs an event_store block on {site.callee!r}"))
            elif scenario.resilience.policy(site.caller, site.callee).hedge is not None:
                problems.append(
                    Problem(
                        loc,
                        "hedged calls to a database would leak connections and locks; "
                        f"no hedge on {site.caller!r} -> {site.callee!r}",
                    )
                )
    return problems


def _fault_problems(scenario: Scenario, graph: nx.DiGraph) -> list[Problem]:
    """Faults that name unknown services, replicas out of range, or edges no route calls along."""
    services, problems = scenario.services, []

    def known(name: str, loc: Loc, client: bool = False) -> bool:
        if name in services or (client and name == CLIENT):
            return True
        problems.append(Problem(loc, f"unknown service {name!r}; known: {_names(services)}"))
        return False

    def replica(service: str, index: int, loc: Loc) -> None:
        count = services[service].replicas
        if index >= count:
            problems.append(Problem(loc, f"{service!r} has replicas 0..{count - 1}, not {index}"))

    for index, fault in enumerate(scenario.faults):
        at: Loc = ("faults", index)
        match fault:
            case ReplicaFault() | SlowReplicaFault():
                if known(fault.service, (*at, "service")):
                    replica(fault.service, fault.replica, (*at, "replica"))
            case CrashesFault():
                if known(fault.service, (*at, "service")):
                    for position, number in enumerate(fault.replicas or []):
                        replica(fault.service, number, (*at, "replicas", position))
            case ChaosMonkeyFault():
                for position, name in enumerate(fault.services or []):
                    known(name, (*at, "services", position))
            case LatencyFault() | ErrorFault() if fault.edge is None:
                known(fault.service or "", (*at, "service"))
            case LatencyFault() | ErrorFault():
                source, target = fault.source or "", fault.target or ""
                ends = [known(source, (*at, "from"), client=True), known(target, (*at, "to"))]
                if all(ends) and not graph.has_edge(source, target):
                    problems.append(Problem((*at, "from"), f"no route has {source!r} call {target!r}"))
            case PartitionFault():
                a, b = fault.between
                sides = [known(name, (*at, "between", i), client=True) for i, name in enumerate((a, b))]
                if all(sides) and not (graph.has_edge(a, b) or graph.has_edge(b, a)):
                    problems.append(
                        Problem((*at, "between"), f"no route has {a!r} and {b!r} call each other")
                    )
            case BrownoutFault():
                known(fault.service, (*at, "service"))
    return problems


def _names(mapping: dict[str, object]) -> str:
    return ", ".join(sorted(mapping)) or "(none)"


def _route_label(routes: list[str], shown: int = 3) -> str:
    return ", ".join(routes[:shown]) + (f" +{len(routes) - shown}" if len(routes) > shown else "")


def draw_topology(scenario: Scenario, ax: Axes | None = None) -> Axes:
    """Draw the call graph left to right, from the client to the deepest dependency.

    Nodes are labelled ``name`` and ``replicas x concurrency``; edges with the routes that use them.
    """
    graph = build_topology(scenario)
    for node in nx.topological_sort(graph):
        graph.nodes[node]["layer"] = max(
            (graph.nodes[p]["layer"] + 1 for p in graph.predecessors(node)), default=0
        )
    width = 3 + 2.2 * (1 + max(nx.get_node_attributes(graph, "layer").values()))
    ax = axes_or_new(ax, figsize=(width, 4.5))
    position = nx.multipartite_layout(graph, subset_key="layer")
    colours = {
        "client": "#dddddd",
        "gateway": "#f6c667",
        "database": "#8fb9e3",
        "cache": "#b5e3a1",
        "broker": "#e3a1d5",
        "service": "#f0a58f",
    }
    nx.draw_networkx_nodes(
        graph, position, ax=ax, node_size=2600, node_color=[colours[k] for _, k in graph.nodes(data="kind")]
    )
    labels = {
        node: node if node == CLIENT else f"{node}\n{data['replicas']}×{data['concurrency']}"
        for node, data in graph.nodes(data=True)
    }
    nx.draw_networkx_labels(graph, position, labels, ax=ax, font_size=8)
    nx.draw_networkx_edges(graph, position, ax=ax, node_size=2600, arrowsize=14, edge_color="#555555")
    edge_labels = {(u, v): _route_label(routes) for u, v, routes in graph.edges(data="routes") if routes}
    nx.draw_networkx_edge_labels(graph, position, edge_labels, ax=ax, font_size=7)
    ax.set_title(f"{scenario.name}: call graph (slots per service = replicas × concurrency)")
    ax.set_axis_off()
    return ax
