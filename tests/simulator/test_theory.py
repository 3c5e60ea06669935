"""The simulator against queueing theory, on the bundled textbook scenarios.

Each test runs a scenario's independent replications at its fixed seed and checks that the
theoretical value lies inside the 99% Student-t confidence interval of the replication means.
Why that tolerance: were the simulator exact, the interval would cover the true value with
probability 0.99 (the scenarios' warm-ups make the initial-transient bias small beside the
interval); a modelling error as large as the half-width -- 2 to 5% here -- fails the test. The seed is
fixed, so the verdict is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from simulator import Scenario, analytic, apply_variant, load_scenario, theory
from simulator.experiment import Experiment, run_experiment
from simulator.summary import confidence_interval
from tests.simulator.bundled import SCENARIOS, bundled

LEVEL = 0.99


def experiment(name: str, variant: str | None = None) -> Experiment:
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    return run_experiment(apply_variant(scenario, variant) if variant else scenario)


def assert_covers(values: np.ndarray, theory: float, what: str) -> None:
    mean, half = confidence_interval(np.asarray(values), LEVEL)
    assert abs(mean - theory) <= half, (
        f"{what}: theory {theory:.6g} outside the {LEVEL:.0%} interval {mean:.6g} ± {half:.3g}"
    )


def rate_of(experiment: Experiment) -> float:
    arrivals = experiment.scenario.workloads[0].arrivals
    assert arrivals is not None
    return arrivals.rate  # type: ignore[union-attr]


@pytest.mark.slow
@pytest.mark.parametrize("variant", [None, "rho-0.5"], ids=["rho-0.9", "rho-0.5"])
def test_mm1_matches_theory(variant: str | None) -> None:
    run = experiment("mm1", variant)
    mean_service = run.scenario.services["server"].service_time.mean
    theory = analytic.mm1(rate_of(run), 1 / mean_service)
    table = run.per_replication
    assert_covers(table["server.utilization"], theory.utilization, "utilization")
    assert_covers(table["server.wait"], theory.wait, "Wq")
    assert_covers(table["latency_mean"], theory.sojourn, "W")
    assert_covers(table["server.in_service"], theory.in_system, "L")


def test_mm1_at_rho_09_waits_nine_service_times() -> None:
    """The syllabus figure, read off the analytic twin the simulation tests trust."""
    scenario = load_scenario(SCENARIOS / "mm1.yaml")
    mean_service = scenario.services["server"].service_time.mean
    theory = analytic.mm1(scenario.workloads[0].arrivals.rate, 1 / mean_service)  # type: ignore[union-attr]
    assert theory.utilization == pytest.approx(0.9)
    assert theory.wait == pytest.approx(9 * mean_service)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["c-1", "c-2", None, "c-16"], ids=["c=1", "c=2", "c=4", "c=16"])
def test_mmc_matches_erlang_c(variant: str | None) -> None:
    run = experiment("mmc", variant)
    pool = run.scenario.services["pool"]
    servers, service_rate = pool.concurrency, 1 / pool.service_time.mean
    theory = analytic.mmc(rate_of(run), service_rate, servers)
    table = run.per_replication
    assert_covers(table["pool.p_wait"], theory.p_wait, f"P(wait), c={servers}")
    assert_covers(table["pool.wait"], theory.wait, f"Wq, c={servers}")


@pytest.mark.slow
def test_md1_matches_pollaczek_khinchine() -> None:
    run = experiment("md1")
    service = run.scenario.services["server"].service_time.mean
    theory = analytic.md1(rate_of(run), service)
    assert_covers(run.per_replication["server.wait"], theory.wait, "M/D/1 Wq")
    # The same run is clearly not M/M/1: its wait is about half, far outside the interval.
    mean, half = confidence_interval(run.per_replication["server.wait"].to_numpy(), LEVEL)
    assert abs(mean - analytic.mm1(rate_of(run), 1 / service).wait) > 10 * half


@pytest.mark.slow
def test_tandem_matches_jackson() -> None:
    run = experiment("tandem")
    rates = [1 / run.scenario.services[name].service_time.mean for name in ("a", "b", "c")]
    theory = analytic.tandem(rate_of(run), rates)
    table = run.per_replication
    assert_covers(table["latency_mean"], theory.sojourn, "end-to-end W")
    for name, station in zip(("a", "b", "c"), theory.stations, strict=True):
        assert_covers(table[f"{name}.sojourn"], station.sojourn, f"W at {name}")


@pytest.mark.slow
def test_feedback_network_matches_jackson() -> None:
    run = experiment("feedback")
    services = run.scenario.services
    p = run.scenario.routes["main"][0].repeat_probability  # type: ignore[union-attr]
    routing = [[0.0, 1.0], [p, 0.0]]
    rates = [1 / services[name].service_time.mean for name in ("frontend", "worker")]
    theory = analytic.jackson([rate_of(run), 0.0], routing, rates)
    table = run.per_replication
    assert_covers(table["latency_mean"], theory.sojourn, "end-to-end W")
    for name, rate in zip(("frontend", "worker"), theory.arrival_rates, strict=True):
        assert_covers(table[f"{name}.arrival_rate"], rate, f"arrival rate at {name}")


@pytest.mark.slow
def test_closed_loop_obeys_the_response_time_law() -> None:
    """R = N / X - Z holds for any closed system, whatever its service times."""
    run = experiment("closed")
    workload = run.scenario.workloads[0]
    users, think = workload.users, workload.think_time.mean  # type: ignore[union-attr]
    table = run.per_replication
    predicted = users / table["throughput"] - think
    assert_covers(table["latency_mean"] - predicted, 0.0, "R - (N/X - Z)")


@pytest.mark.slow
def test_littles_law_holds_at_every_service_of_the_shop() -> None:
    """L = lambda W per service, with L measured independently as the time-average number present.

    Within one window the two sides differ only by the calls straddling its edges, about
    (number present) x W / window: below 0.1% here, so 1% is a generous bound that still catches a
    mis-measured L or W.
    """
    run = experiment("shop")
    table = run.per_replication
    for name in run.scenario.services:
        little = table[f"{name}.arrival_rate"] * table[f"{name}.sojourn"]
        np.testing.assert_allclose(table[f"{name}.in_service"], little, rtol=0.01, err_msg=name)


# simulator.theory: which scenarios have a closed form, and the report's "theory" column.

PREDICTED = [
    ("mm1", None, "M/M/1"),
    ("mm1", "rho-0.5", "M/M/1"),
    ("mmc", "c-1", "M/M/1"),
    ("mmc", "c-2", "M/M/2"),
    ("mmc", None, "M/M/4"),
    ("mmc", "c-16", "M/M/16"),
    ("md1", None, "M/D/1"),
    ("tandem", None, "tandem of 3: M/M/1 → M/M/1 → M/M/1"),
]


def _scenario(name: str, variant: str | None = None) -> Scenario:
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    return apply_variant(scenario, variant) if variant else scenario


@pytest.mark.parametrize(("name", "variant", "model"), PREDICTED)
def test_predict_names_the_model_and_agrees_with_the_analytic_twin(
    name: str, variant: str | None, model: str
) -> None:
    scenario = _scenario(name, variant)
    prediction = theory.predict(scenario)
    assert prediction is not None
    assert theory.why_not(scenario) is None
    assert prediction.model == model
    lam = scenario.workloads[0].arrivals.rate  # type: ignore[union-attr]
    services = scenario.services
    if name == "md1":
        expected = analytic.md1(lam, services["server"].service_time.mean).sojourn
    elif name == "tandem":
        expected = analytic.tandem(lam, [1 / services[s].service_time.mean for s in "abc"]).sojourn
    else:
        service = next(iter(services.values()))
        expected = analytic.mmc(lam, 1 / service.service_time.mean, service.concurrency).sojourn
    assert prediction.sojourn == pytest.approx(expected, rel=1e-12)
    assert sum(s.sojourn for s in prediction.services.values()) == pytest.approx(prediction.sojourn)


def test_a_general_service_time_is_mg1_by_its_two_moments() -> None:
    scenario = bundled(
        "mm1", services={"server": {"service_time": {"dist": "uniform", "low": "0ms", "high": "20ms"}}}
    )
    prediction = theory.predict(scenario)
    assert prediction is not None
    assert prediction.model == "M/G/1"
    # Uniform(0, 20 ms): mean 10 ms, variance 20^2/12 ms^2; Pollaczek-Khinchine at 90/s.
    assert prediction.sojourn == pytest.approx(analytic.mg1(90, 0.01, 0.02**2 / 12).sojourn)


@pytest.mark.parametrize(
    ("scenario", "reason"),
    [
        (lambda: _scenario("shop"), "several workloads"),
        (lambda: _scenario("feedback"), "loop step"),
        (lambda: _scenario("resilience"), "faults"),
        (lambda: _scenario("closed"), "Poisson"),
        (lambda: bundled("mm1", services={"server": {"queue_capacity": 10}}), "unbounded queue"),
        (lambda: bundled("mm1", services={"server": {"replicas": 2}}), "single replica"),
        (lambda: bundled("mm1", workloads={0: {"arrivals": {"rate": "100/s"}}}), "overloaded"),
        (lambda: bundled("mm1", network={"latency": "1ms"}), "network latency"),
        (
            lambda: bundled(
                "mmc", services={"pool": {"service_time": {"dist": "deterministic", "value": "100ms"}}}
            ),
            "non-exponential",
        ),
        (
            lambda: bundled(
                "tandem", services={"b": {"service_time": {"dist": "deterministic", "value": "10ms"}}}
            ),
            "non-exponential",
        ),
    ],
    ids=[
        "shop",
        "feedback",
        "resilience",
        "closed",
        "queue-limit",
        "replicas",
        "rho-1",
        "network",
        "M/D/4",
        "tandem-D",
    ],
)
def test_no_closed_form_gives_none_and_says_why(scenario: Callable[[], Scenario], reason: str) -> None:
    built = scenario()
    assert theory.predict(built) is None
    why = theory.why_not(built)
    assert why is not None
    assert reason in why


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "variant", "model"), PREDICTED, ids=[f"{n}-{v or 'base'}" for n, v, _ in PREDICTED]
)
def test_the_prediction_lies_inside_the_simulated_interval(
    name: str, variant: str | None, model: str
) -> None:
    """What the report's theory column shows: for every bundled textbook scenario, the predicted
    latency mean and each station's utilization inside the simulated 99% interval (see the top)."""
    run = experiment(name, variant)
    prediction = theory.predict(run.scenario)
    assert prediction is not None
    table = run.per_replication
    assert_covers(table["latency_mean"], prediction.sojourn, f"{model} W")
    for service, metrics in prediction.services.items():
        assert_covers(table[f"{service}.utilization"], metrics.utilization, f"{model} rho at {service}")


def test_the_prediction_lies_inside_a_short_runs_interval() -> None:
    """The fast tier's version: M/M/1 at rho 0.5 over ten 100-second replications (about 5000 requests
    each; the 99% interval of the mean latency is then about ±5%)."""
    run = run_experiment(apply_variant(bundled("mm1", duration="100s", warmup="5s"), "rho-0.5"))
    prediction = theory.predict(run.scenario)
    assert prediction is not None
    assert_covers(run.per_replication["latency_mean"], prediction.sojourn, "M/M/1 W")
    assert_covers(run.per_replication["server.utilization"], prediction.services["server"].utilization, "rho")
