"""Which scenarios queueing theory answers exactly, and its answer: the report's "theory" column.

A scenario has a closed form when it is, in effect, a textbook model (:mod:`simulator.analytic`):

* one open-loop workload with Poisson arrivals (``process: poisson``), no client or key populations;
* its route is a chain of plain calls -- ``call`` steps, possibly inside ``sequence`` -- each to a
  different service, with no nested calls, database ``op``, or per-call service time;
* every service called is a plain ``kind: service`` with one replica of ``concurrency`` c, an unbounded
  queue (no ``queue_capacity``), and none of the features that change the model (profiles, gateway,
  discovery, shedding, concurrency limits, autoscaling, versions);
* no network latency, faults, resilience policies, brokers, deployments or nodes;
* every station stable (utilization below 1), so that a steady state exists.

Then one station is M/M/c (Erlang C) with exponential service, M/D/1 with deterministic service, or
M/G/1 (Pollaczek-Khinchine, from the distribution's mean and variance) with any other service time and
c = 1. A chain of stations is a tandem Jackson network when every station is exponential (by Burke's
theorem each then sees Poisson arrivals); the end-to-end mean is the sum of the stations' sojourns.
A chain with a non-exponential station has no closed form: its departures are not Poisson.

:func:`predict` returns the predicted means, or None; :func:`why_not` says, in a sentence, why none
applies. Both read only the scenario, never a run.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator import analytic
from simulator.arrivals import Poisson
from simulator.distributions import Deterministic, Exponential
from simulator.resilience import ResilienceConfig
from simulator.scenario import CallStep, Scenario, SequenceStep, Step

__all__ = ["Prediction", "predict", "why_not"]


@dataclass(frozen=True)
class Prediction:
    """Steady-state means that queueing theory predicts for a scenario.

    Attributes:
        model: the model in Kendall notation, e.g. ``M/M/4`` or ``tandem of 3 M/M/1``.
        sojourn: mean end-to-end time of a request (seconds), the simulated ``latency_mean``.
        services: per service called, its predicted metrics (``utilization`` is rho, ``sojourn`` W).
    """

    model: str
    sojourn: float
    services: dict[str, analytic.QueueMetrics]


_FEATURES = (
    "replica_profiles",
    "gateway",
    "discovery",
    "shedding",
    "concurrency_limit",
    "database",
    "event_store",
    "autoscaling",
    "versions",
)
"""Service fields that change a single replica's queueing model when set (empty or None when not)."""


def _chain(steps: list[Step]) -> list[CallStep] | str:
    """The route's calls in order, or why it is not a chain of plain calls."""
    calls: list[CallStep] = []
    for step in steps:
        if isinstance(step, SequenceStep):
            inner = _chain(step.sequence)
            if isinstance(inner, str):
                return inner
            calls += inner
        elif isinstance(step, CallStep):
            if step.calls or step.op is not None or step.service_time is not None:
                return f"the call to {step.call!r} has nested calls, a database op or its own service time"
            calls.append(step)
        else:
            return f"the route has a {type(step).__name__.removesuffix('Step').lower()} step"
    return calls


def _analyse(scenario: Scenario) -> Prediction | str:
    """The prediction, or the reason there is none."""
    if len(scenario.workloads) != 1:
        return "the scenario has several workloads"
    workload = scenario.workloads[0]
    if not isinstance(workload.arrivals, Poisson):
        return "arrivals are not a homogeneous Poisson process"
    if workload.clients is not None or workload.keys is not None or workload.limit is not None:
        return "the workload draws clients or keys, or is limited"
    extras = {
        "faults": scenario.faults,
        "brokers": scenario.brokers or scenario.consumers,
        "deployments": scenario.deployments or scenario.nodes,
        "network latency": scenario.network.latency or scenario.network.edges,
        "resilience policies": scenario.resilience != ResilienceConfig(),
    }
    present = [name for name, value in extras.items() if value]
    if present:
        return f"the scenario has {present[0]}"
    calls = _chain(scenario.routes[workload.route])
    if isinstance(calls, str):
        return calls
    names = [call.call for call in calls]
    if len(set(names)) != len(names):
        return "the route calls a service more than once"
    lam = workload.arrivals.rate
    stations: dict[str, analytic.QueueMetrics] = {}
    kinds: list[str] = []
    for name in names:
        service = scenario.services[name]
        extra = [field for field in _FEATURES if getattr(service, field)]
        plain = service.kind == "service" and service.replicas == 1 and service.queue_capacity is None
        if not plain:
            return f"service {name!r} is not a single replica with an unbounded queue"
        if extra:
            return f"service {name!r} sets {extra[0]}"
        time, c = service.service_time, service.concurrency
        if lam * time.mean >= c:
            return f"service {name!r} is overloaded (utilization >= 1): no steady state"
        if isinstance(time, Exponential):
            stations[name], kind = analytic.mmc(lam, 1 / time.mean, c), f"M/M/{c}"
        elif c > 1:
            return f"service {name!r} has {c} servers and non-exponential service: no closed form"
        elif isinstance(time, Deterministic):
            stations[name], kind = analytic.md1(lam, time.mean), "M/D/1"
        else:
            stations[name], kind = analytic.mg1(lam, time.mean, time.variance), "M/G/1"
        kinds.append(kind)
    if len(kinds) > 1 and any(not kind.startswith("M/M/") for kind in kinds):
        return "a chain of stations with non-exponential service has no closed form"
    model = kinds[0] if len(kinds) == 1 else f"tandem of {len(kinds)}: {' → '.join(kinds)}"
    return Prediction(model, sum(s.sojourn for s in stations.values()), stations)


def predict(scenario: Scenario) -> Prediction | None:
    """The closed-form prediction of the scenario's means, or None when no textbook model fits it."""
    result = _analyse(scenario)
    return result if isinstance(result, Prediction) else None


def why_not(scenario: Scenario) -> str | None:
    """Why no closed form applies (one sentence), or None when :func:`predict` has one."""
    result = _analyse(scenario)
    return result if isinstance(result, str) else None
