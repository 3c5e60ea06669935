"""The architecture as a graph: who calls whom, how often, and whether that makes sense.

:func:`build_topology` turns a scenario into a networkx ``DiGraph`` whose nodes are the services plus
the ``client`` (the source of every workload) and whose edges are calls, weighted by the mean number
of calls per request of each workload (``visits``). :func:`check_topology` reports what the schema
alone cannot see: references to services or routes that do not exist, call cycles (a service that
ends up calling itself would deadlock a thread-per-request system), services no workload reaches, and
faults that name unknown services, replicas out of range, or edges along which no route calls, and
deployments of unknown services or versions, or onto nodes too small for the replicas.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import networkx as nx

from patterns.scheduling import NodePool
from simulator.autoscaling import VerticalConfig
from simulator.database import EVENT_OPS
from simulator.errors import Loc, Problem
from simulator.faults import (
    BrownoutFault,
    ChaosMonkeyFault,
    CrashesFault,
    ErrorFault,
    LatencyFault,
    NodeFailureFault,
    PartitionFault,
    ReplicaFault,
    SlowReplicaFault,
)
from simulator.figures import axes_or_new
from simulator.messaging import PublishTarget, scaled_channel
from simulator.scenario import (
    CLIENT,
    BranchStep,
    CallStep,
    LoopStep,
    ParallelStep,
    PublishStep,
    Scenario,
    SequenceStep,
    Step,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "CallSite",
    "PublishSite",
    "build_topology",
    "call_sites",
    "check_topology",
    "draw_topology",
    "publish_sites",
    "read_models",
    "route_callers",
    "route_visits",
]


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


@dataclass(frozen=True, slots=True)
class PublishSite:
    """One ``publish`` step: who publishes, to which broker and queue or topic, where, how often."""

    caller: str
    target: PublishTarget
    loc: Loc
    visits: float


def _sites(steps: list[Step], caller: str, loc: Loc, weight: float = 1.0) -> Iterator[CallSite | PublishSite]:
    for index, step in enumerate(steps):
        here = (*loc, index)
        match step:
            case CallStep():
                yield CallSite(caller, step.call, (*here, "call"), weight, step.op)
                yield from _sites(step.calls, step.call, (*here, "calls"), weight)
            case PublishStep():
                yield PublishSite(caller, step.publish, (*here, "publish"), weight)
            case SequenceStep():
                yield from _sites(step.sequence, caller, (*here, "sequence"), weight)
            case ParallelStep():
                yield from _sites(step.parallel, caller, (*here, "parallel"), weight)
            case BranchStep():
                for option_index, option in enumerate(step.branch):
                    yield from _sites(
                        option.steps,
                        caller,
                        (*here, "branch", option_index, "steps"),
                        weight * option.probability,
                    )
            case LoopStep():
                yield from _sites(step.loop, caller, (*here, "loop"), weight * _loop_visits(step))


def call_sites(steps: list[Step], caller: str, loc: Loc, weight: float = 1.0) -> Iterator[CallSite]:
    """Every call step under ``steps``, made by ``caller``, with its expected count per request."""
    for site in _sites(steps, caller, loc, weight):
        if isinstance(site, CallSite):
            yield site


def publish_sites(steps: list[Step], caller: str, loc: Loc, weight: float = 1.0) -> Iterator[PublishSite]:
    """Every publish step under ``steps`` (made by ``caller`` or a service it calls), with its count."""
    for site in _sites(steps, caller, loc, weight):
        if isinstance(site, PublishSite):
            yield site


def store_publishes(scenario: Scenario, steps: list[Step], caller: str, loc: Loc) -> Iterator[PublishSite]:
    """The publications of ``append`` calls under ``steps`` to event stores with ``publish``: each a
    :class:`PublishSite` made by the event store (its ``loc`` is the append's ``op``)."""
    for site in call_sites(steps, caller, loc):
        service = scenario.services.get(site.callee)
        if site.op != "append" or service is None or service.event_store is None:
            continue
        target = service.event_store.publish
        if target is not None:
            yield PublishSite(site.callee, target, (*site.loc[:-1], "op"), site.visits)


def read_models(scenario: Scenario) -> dict[str, tuple[str, ...]]:
    """CQRS read models: each database a *projector* writes to, with the channels it projects.

    A projector is a consumer whose route makes a ``write`` call (it applies each message it takes to
    the read model); the read model's staleness is then the lag of those channels' messages.
    """
    models: dict[str, list[str]] = {}
    for consumer in scenario.consumers:
        steps = scenario.routes.get(consumer.route or "")
        if steps is None:
            continue
        for site in call_sites(steps, consumer.service, ("routes", consumer.route or "")):
            if site.op == "write":
                models.setdefault(site.callee, []).append(consumer.channel)
    return {name: tuple(dict.fromkeys(channels)) for name, channels in models.items()}


def route_callers(scenario: Scenario) -> list[tuple[str, str]]:
    """``(route, caller)`` for every way a route runs: a workload's route is run by the ``client``,
    a consumer's route by the consumer's service; routes nobody uses count as the client's."""
    consumed = [(c.route, c.service) for c in scenario.consumers if c.route is not None]
    used = {route for route, _ in consumed}
    pairs = [(route, CLIENT) for route in scenario.routes if route not in used]
    pairs += [
        (route, CLIENT) for route in dict.fromkeys(w.route for w in scenario.workloads) if route in used
    ]
    return pairs + list(dict.fromkeys(consumed))


def route_visits(scenario: Scenario, route: str) -> dict[str, float]:
    """Mean number of visits to each service by one request of ``route`` (the Jackson visit ratios)."""
    visits: dict[str, float] = {}
    for site in call_sites(scenario.routes[route], CLIENT, ("routes", route)):
        visits[site.callee] = visits.get(site.callee, 0.0) + site.visits
    return visits


def active_routes(scenario: Scenario) -> tuple[set[tuple[str, str]], set[int]]:
    """Which ``(route, caller)`` runs happen, and which consumers (by index) get messages.

    Workloads' routes run; a consumer gets messages when a running route publishes to its queue or
    topic, and then its route runs too (which may publish further).
    """
    runs = {(w.route, CLIENT) for w in scenario.workloads}
    while True:
        published = {
            (site.target.broker, site.target.destination)
            for route, caller in runs
            for sites in (publish_sites, partial(store_publishes, scenario))
            for site in sites(scenario.routes.get(route, []), caller, ("routes", route))
        }
        active = {
            index for index, c in enumerate(scenario.consumers) if (c.broker, c.queue or c.topic) in published
        }
        more = runs | {
            (c.route, c.service)
            for index, c in enumerate(scenario.consumers)
            if index in active and c.route is not None
        }
        if more == runs:
            return runs, active
        runs = more


def build_topology(scenario: Scenario) -> nx.DiGraph:
    """The call graph of ``scenario``, with its brokers.

    Edge attributes: ``visits`` (mean calls per request, summed over the routes workloads use, each
    route once), ``routes``
    (the sorted names of the workloads' routes that make the call), ``used`` (some workload makes it)
    and ``loc`` (where the first such call is written). Brokers are nodes of kind ``broker``: a
    publish step is an edge to its broker, a consumer an edge from the broker to its service
    (``routes`` then names the queue or ``topic:group``), and a consumer's route's calls are made by
    the consumer's service.
    """
    graph = nx.DiGraph()
    graph.add_node(CLIENT, kind="client")
    for name, service in scenario.services.items():
        graph.add_node(name, kind=service.kind, replicas=service.replicas, concurrency=service.concurrency)
    for name in scenario.brokers:
        if name not in graph:
            graph.add_node(name, kind="broker", replicas=0, concurrency=0)
    runs, active = active_routes(scenario)

    def link(caller: str, callee: str, loc: Loc, label: str, visits: float, used: bool) -> None:
        if not graph.has_edge(caller, callee):
            graph.add_edge(caller, callee, visits=0.0, routes=[], loc=loc, used=False)
        edge = graph.edges[caller, callee]
        if used:
            edge["visits"] += visits
            edge["used"] = True
            if label not in edge["routes"]:
                edge["routes"] = sorted([*edge["routes"], label])

    for route, caller in route_callers(scenario):
        steps = scenario.routes.get(route)
        if steps is None or caller not in graph:
            continue
        used = (route, caller) in runs
        for site in _sites(steps, caller, ("routes", route)):
            callee = site.callee if isinstance(site, CallSite) else site.target.broker
            if callee in graph and callee != CLIENT and site.caller in graph:
                link(site.caller, callee, site.loc, route, site.visits, used)
        for site in store_publishes(scenario, steps, caller, ("routes", route)):
            if site.target.broker in graph:
                link(site.caller, site.target.broker, site.loc, route, site.visits, used)
    for index, consumer in enumerate(scenario.consumers):
        if consumer.broker in scenario.brokers and consumer.service in scenario.services:
            loc = ("consumers", index)
            link(consumer.broker, consumer.service, loc, consumer.channel, 0.0, index in active)
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
    problems += _messaging_problems(scenario)
    for index, edge in enumerate(scenario.network.edges):
        for key, name in (("from", edge.source), ("to", edge.target)):
            if name not in services and name != CLIENT and name not in scenario.brokers:
                problems.append(Problem(("network", "edges", index, key), f"unknown service {name!r}"))
    graph = build_topology(scenario)
    problems += _fault_problems(scenario, graph)
    problems += _deployment_problems(scenario)
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


def _messaging_problems(scenario: Scenario) -> list[Problem]:
    """Publish steps and consumers that name unknown brokers, queues, topics, services or routes;
    names that clash (metrics are named after services, queues and ``topic:group``)."""
    services, brokers, problems = scenario.services, scenario.brokers, []

    def destination(broker: str, queue: str | None, topic: str | None, loc: Loc) -> None:
        if broker not in brokers:
            problems.append(Problem((*loc, "broker"), f"unknown broker {broker!r}; known: {_names(brokers)}"))
            return
        config = brokers[broker]
        if queue is not None and queue not in config.queues:
            known = _names(config.queues)
            problems.append(
                Problem((*loc, "queue"), f"broker {broker!r} has no queue {queue!r}; known: {known}")
            )
        if topic is not None and topic not in config.topics:
            known = _names(config.topics)
            problems.append(
                Problem((*loc, "topic"), f"broker {broker!r} has no topic {topic!r}; known: {known}")
            )

    for route, steps in scenario.routes.items():
        for site in publish_sites(steps, CLIENT, ("routes", route)):
            destination(site.target.broker, site.target.queue, site.target.topic, site.loc)
    for name, service in services.items():
        feed = service.event_store.publish if service.event_store is not None else None
        if feed is not None:
            destination(feed.broker, feed.queue, feed.topic, ("services", name, "event_store", "publish"))
    channels: dict[str, int] = {}
    for index, consumer in enumerate(scenario.consumers):
        loc: Loc = ("consumers", index)
        if consumer.service not in services:
            problems.append(
                Problem((*loc, "service"), f"unknown service {consumer.service!r}; known: {_names(services)}")
            )
        if consumer.route is not None and consumer.route not in scenario.routes:
            problems.append(
                Problem(
                    (*loc, "route"), f"unknown route {consumer.route!r}; known: {_names(scenario.routes)}"
                )
            )
        destination(consumer.broker, consumer.queue, consumer.topic, loc)
        if consumer.channel in channels:
            problems.append(
                Problem(loc, f"{consumer.channel!r} is already read by consumer {channels[consumer.channel]}")
            )
        channels.setdefault(consumer.channel, index)
    known = {*channels, *(name for config in brokers.values() for name in config.queues)}
    for name, service in services.items():
        scaling = service.autoscaling
        if scaling is None or scaling.metric != "backlog":
            continue
        loc = ("services", name, "autoscaling", "channel" if scaling.channel is not None else "metric")
        try:
            channel = scaled_channel(name, scaling.channel, scenario.consumers)
        except ValueError as error:
            problems.append(Problem(loc, str(error)))
            continue
        if channel not in known:
            problems.append(
                Problem(
                    loc, f"unknown queue or consumer group {channel!r}; known: {_names(dict.fromkeys(known))}"
                )
            )
    owners: dict[str, str] = dict.fromkeys(services, "a service")
    for broker, config in brokers.items():
        if broker in services or broker == CLIENT:
            problems.append(Problem(("brokers", broker), f"broker {broker!r} has the name of a service"))
        for kind, names in (("queues", config.queues), ("topics", config.topics)):
            for name in names:
                if name in owners:
                    problems.append(
                        Problem(
                            ("brokers", broker, kind, name), f"{name!r} is already the name of {owners[name]}"
                        )
                    )
                owners.setdefault(name, f"a queue or topic of broker {broker!r}")
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
            case NodeFailureFault():
                nodes = scenario.nodes
                if nodes is None:
                    problems.append(Problem((*at, "node"), "a node_failure needs the scenario's 'nodes'"))
                elif fault.node >= nodes.count:
                    problems.append(
                        Problem((*at, "node"), f"nodes are numbered 0..{nodes.count - 1}, not {fault.node}")
                    )
    return problems


def _deployment_problems(scenario: Scenario) -> list[Problem]:
    """Deployments of unknown services or versions, of the version already running, twice on one
    service, with a strategy the service cannot route; nodes too small for the replicas at the start."""
    services, problems = scenario.services, []
    deployed: set[str] = set()
    for index, deployment in enumerate(scenario.deployments):
        at: Loc = ("deployments", index)
        name = deployment.service
        if name not in services:
            problems.append(Problem((*at, "service"), f"unknown service {name!r}; known: {_names(services)}"))
            continue
        service = services[name]
        if name in deployed:
            problems.append(
                Problem((*at, "service"), f"{name!r} is deployed twice: one deployment per service")
            )
        deployed.add(name)
        if deployment.version == service.version:
            problems.append(
                Problem((*at, "version"), f"{name!r} already runs {deployment.version!r}: nothing to deploy")
            )
        elif deployment.version not in service.versions:
            known = _names(service.versions) if service.versions else "none (add them under 'versions')"
            problems.append(
                Problem((*at, "version"), f"{name!r} has no version {deployment.version!r}; known: {known}")
            )
        if deployment.at >= scenario.duration:
            problems.append(
                Problem(
                    (*at, "at"), f"at ({deployment.at:g}s) must come before the end ({scenario.duration:g}s)"
                )
            )
        if deployment.strategy != "rolling" and service.discovery is not None:
            problems.append(
                Problem(
                    (*at, "strategy"),
                    f"{deployment.strategy} switches the routable replicas itself: "
                    f"{name!r} cannot also use discovery",
                )
            )
        if isinstance(service.autoscaling, VerticalConfig):
            problems.append(
                Problem(
                    (*at, "service"),
                    f"{name!r} scales vertically (a rolling resize): it cannot also be deployed",
                )
            )
    nodes = scenario.nodes
    if nodes is not None:
        pool = NodePool(nodes.count, nodes.cpu, nodes.placement)
        for name, service in services.items():
            for replica in range(service.replicas):
                if pool.place(service.cpu) is None:
                    needed = sum(s.replicas * s.cpu for s in services.values())
                    problems.append(
                        Problem(
                            ("nodes",),
                            f"{nodes.count} nodes of {nodes.cpu:g} cpu cannot hold the replicas at the start:"
                            " "
                            f"{name!r} replica {replica} (cpu {service.cpu:g}) fits nowhere "
                            f"({needed:g} cpu requested in all, placement {nodes.placement})",
                        )
                    )
                    return problems
    return problems


def _names(mapping: dict[str, object]) -> str:
    return ", ".join(sorted(mapping)) or "(none)"


def _route_label(routes: list[str], shown: int = 3) -> str:
    return ", ".join(routes[:shown]) + (f" +{len(routes) - shown}" if len(routes) > shown else "")


def draw_topology(scenario: Scenario, ax: Axes | None = None) -> Axes:
    """Draw the call graph left to right, from the client to the deepest dependency.

    Nodes are labelled ``name`` and ``replicas x concurrency``; edges with the routes that use them.
    Message brokers are nodes too; their edges (publish steps in, consumers out, labelled with the
    queue or ``topic:group``) are dashed: nobody waits along them.
    """
    graph = build_topology(scenario)
    if nx.is_directed_acyclic_graph(graph):
        for node in nx.topological_sort(graph):
            graph.nodes[node]["layer"] = max(
                (graph.nodes[p]["layer"] + 1 for p in graph.predecessors(node)), default=0
            )
    else:  # a consumer publishing back to a broker it reads from: layers by distance from the client
        distance = nx.single_source_shortest_path_length(graph, CLIENT)
        for node in graph:
            graph.nodes[node]["layer"] = distance.get(node, max(distance.values()) + 1)
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
        node: node
        if node == CLIENT
        else f"{node}\nbroker"
        if data["kind"] == "broker" and node in scenario.brokers
        else f"{node}\n{data['replicas']}×{data['concurrency']}"
        for node, data in graph.nodes(data=True)
    }
    nx.draw_networkx_labels(graph, position, labels, ax=ax, font_size=8)
    brokers = {
        node for node, kind in graph.nodes(data="kind") if kind == "broker" and node in scenario.brokers
    }
    for style, edges in (
        ("solid", [(u, v) for u, v in graph.edges if u not in brokers and v not in brokers]),
        ("dashed", [(u, v) for u, v in graph.edges if u in brokers or v in brokers]),  # asynchronous
    ):
        if edges:
            nx.draw_networkx_edges(
                graph,
                position,
                edgelist=edges,
                ax=ax,
                node_size=2600,
                arrowsize=14,
                edge_color="#555555",
                style=style,
            )
    edge_labels = {(u, v): _route_label(routes) for u, v, routes in graph.edges(data="routes") if routes}
    nx.draw_networkx_edge_labels(graph, position, edge_labels, ax=ax, font_size=7)
    ax.set_title(f"{scenario.name}: call graph (slots per service = replicas × concurrency)")
    ax.set_axis_off()
    return ax
