"""Tests for the analytic twins in simulator.analytic.

Expected values come from closed forms derived independently of the implementation
(textbook M/M/1 results, the factorial form of Erlang C, Bernoulli feedback, Burke's
theorem) or from identities the models must satisfy (Little's law, traffic equations).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import gammaln

from simulator.analytic import (
    QueueMetrics,
    erlang_c,
    jackson,
    little_l,
    md1,
    mg1,
    mm1,
    mmc,
    tandem,
)


def assert_metrics_close(actual: QueueMetrics, expected: QueueMetrics, rel: float = 1e-12) -> None:
    for field in ("utilization", "wait", "sojourn", "queue_length", "in_system", "p_wait"):
        assert getattr(actual, field) == pytest.approx(getattr(expected, field), rel=rel, abs=1e-15), field


def erlang_c_factorial(c: int, a: float) -> float:
    """The textbook Erlang C formula, written with factorials (fine for small c)."""
    tail = a**c / math.factorial(c) * c / (c - a)
    return tail / (sum(a**k / math.factorial(k) for k in range(c)) + tail)


def erlang_c_log_space(c: int, a: float) -> float:
    """The same formula evaluated with log-gamma, so it does not overflow for large c."""
    log_terms = np.array([k * math.log(a) - gammaln(k + 1) for k in range(c)])
    log_tail = c * math.log(a) - gammaln(c + 1) + math.log(c / (c - a))
    peak = max(log_terms.max(), log_tail)
    head = np.exp(log_terms - peak).sum()
    tail = math.exp(log_tail - peak)
    return tail / (head + tail)


# --- M/M/1 -------------------------------------------------------------------------------


@pytest.mark.parametrize("rho", [0.5, 0.9])
def test_mm1_textbook_values(rho: float) -> None:
    service_rate = 4.0
    m = mm1(rho * service_rate, service_rate)
    mean_service = 1 / service_rate
    assert m.utilization == pytest.approx(rho)
    assert m.wait == pytest.approx(rho / (1 - rho) * mean_service)
    assert m.sojourn == pytest.approx(m.wait + mean_service)
    assert m.in_system == pytest.approx(rho / (1 - rho))
    assert m.queue_length == pytest.approx(rho**2 / (1 - rho))
    assert m.p_wait == pytest.approx(rho)


def test_mm1_at_rho_09_waits_nine_service_times() -> None:
    m = mm1(9.0, 10.0)
    assert m.wait == pytest.approx(9 * 0.1)
    assert m.in_system == pytest.approx(9.0)
    assert m.queue_length == pytest.approx(8.1)


def test_mm1_with_no_traffic_has_no_waiting() -> None:
    m = mm1(0.0, 2.0)
    assert (m.utilization, m.wait, m.queue_length, m.in_system, m.p_wait) == (0, 0, 0, 0, 0)
    assert m.sojourn == pytest.approx(0.5)


@given(
    service_rate=st.floats(min_value=1e-3, max_value=1e3),
    rho=st.floats(min_value=0.0, max_value=0.999),
)
def test_queue_metrics_obey_littles_law(service_rate: float, rho: float) -> None:
    arrival_rate = rho * service_rate
    for m in (
        mm1(arrival_rate, service_rate),
        mmc(arrival_rate, service_rate / 3, 4),
        mg1(arrival_rate, 1 / service_rate, 2 / service_rate**2),
    ):
        assert m.in_system == pytest.approx(little_l(arrival_rate, m.sojourn), rel=1e-9)
        assert m.queue_length == pytest.approx(little_l(arrival_rate, m.wait), rel=1e-9)


def test_little_l() -> None:
    assert little_l(3.0, 0.5) == 1.5
    assert little_l(0.0, 7.0) == 0.0


# --- Erlang C and M/M/c ------------------------------------------------------------------


@pytest.mark.parametrize("rho", [0.0, 0.1, 0.5, 0.95])
def test_erlang_c_single_server_is_rho(rho: float) -> None:
    assert erlang_c(1, rho) == pytest.approx(rho)


def test_erlang_c_textbook_value() -> None:
    # c=2, a=1: (1/2 * 2) / (1 + 1 + 1) -> 1/3.
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)


@given(c=st.integers(min_value=1, max_value=30), fraction=st.floats(min_value=0.01, max_value=0.99))
def test_erlang_c_matches_factorial_formula(c: int, fraction: float) -> None:
    a = fraction * c
    assert erlang_c(c, a) == pytest.approx(erlang_c_factorial(c, a), rel=1e-9)


@pytest.mark.parametrize(("c", "a"), [(200, 180.0), (1000, 950.0), (1000, 999.0)])
def test_erlang_c_is_stable_for_many_servers(c: int, a: float) -> None:
    p = erlang_c(c, a)
    assert 0 < p < 1
    assert p == pytest.approx(erlang_c_log_space(c, a), rel=1e-9)


def test_erlang_c_grows_with_load() -> None:
    loads = np.linspace(0.5, 9.5, 19)
    probabilities = [erlang_c(10, a) for a in loads]
    assert all(np.diff(probabilities) > 0)


@pytest.mark.parametrize("rho", [0.0, 0.3, 0.9])
def test_mmc_with_one_server_equals_mm1(rho: float) -> None:
    assert_metrics_close(mmc(rho * 5, 5.0, 1), mm1(rho * 5, 5.0))


def test_mmc_two_servers_textbook_value() -> None:
    # lambda=1, mu=1, c=2: C=1/3 and the queue drains at c*mu - lambda = 1, so Wq = 1/3.
    m = mmc(1.0, 1.0, 2)
    assert m.utilization == pytest.approx(0.5)
    assert m.p_wait == pytest.approx(1 / 3)
    assert m.wait == pytest.approx(1 / 3)
    assert m.sojourn == pytest.approx(4 / 3)
    assert m.in_system == pytest.approx(4 / 3)


def test_pooling_servers_beats_separate_queues() -> None:
    pooled = mmc(1.8, 1.0, 2)
    separate = mm1(0.9, 1.0)
    assert pooled.wait < separate.wait


# --- M/G/1 and M/D/1 ---------------------------------------------------------------------


@pytest.mark.parametrize("rho", [0.1, 0.5, 0.9, 0.99])
def test_md1_waits_half_as_long_as_mm1(rho: float) -> None:
    service_rate = 2.0
    deterministic = md1(rho * service_rate, 1 / service_rate)
    exponential = mm1(rho * service_rate, service_rate)
    assert deterministic.wait == pytest.approx(exponential.wait / 2, rel=1e-12)
    assert deterministic.queue_length == pytest.approx(exponential.queue_length / 2, rel=1e-12)
    assert deterministic.utilization == pytest.approx(rho)


@pytest.mark.parametrize("rho", [0.0, 0.25, 0.8])
def test_mg1_with_exponential_variance_equals_mm1(rho: float) -> None:
    mean = 0.2
    assert_metrics_close(mg1(rho / mean, mean, mean**2), mm1(rho / mean, 1 / mean))


def test_mg1_wait_grows_with_variance() -> None:
    waits = [mg1(1.0, 0.5, variance).wait for variance in (0.0, 0.25, 1.0, 4.0)]
    assert waits == sorted(waits)
    assert len(set(waits)) == len(waits)


# --- Jackson networks --------------------------------------------------------------------


def test_tandem_sojourn_is_sum_of_stage_sojourns() -> None:
    rates = [3.0, 5.0, 2.5]
    result = tandem(2.0, rates)
    assert result.arrival_rates == pytest.approx((2.0, 2.0, 2.0))
    assert result.visits == pytest.approx((1.0, 1.0, 1.0))
    assert result.sojourn == pytest.approx(sum(mm1(2.0, mu).sojourn for mu in rates))
    for station, mu in zip(result.stations, rates, strict=True):
        assert_metrics_close(station, mm1(2.0, mu))


def test_tandem_with_multi_server_stage() -> None:
    result = tandem(3.0, [4.0, 2.0], servers=[1, 2])
    assert result.sojourn == pytest.approx(mm1(3.0, 4.0).sojourn + mmc(3.0, 2.0, 2).sojourn)


@pytest.mark.parametrize("p", [0.0, 0.3, 0.75])
def test_feedback_loop_rate_and_sojourn(p: float) -> None:
    gamma, mu = 1.0, 5.0
    result = jackson([gamma], [[p]], [mu])
    assert result.arrival_rates[0] == pytest.approx(gamma / (1 - p))
    assert result.visits[0] == pytest.approx(1 / (1 - p))
    # Bernoulli feedback: end-to-end time equals an M/M/1 with service rate (1 - p) mu.
    assert result.sojourn == pytest.approx(1 / ((1 - p) * mu - gamma))


def test_jackson_littles_law_and_visits() -> None:
    external = [1.0, 0.5, 0.0]
    routing = [[0.0, 0.6, 0.3], [0.2, 0.0, 0.5], [0.1, 0.1, 0.0]]
    result = jackson(external, routing, [6.0, 5.0, 2.0], servers=[1, 1, 2])
    total_l = sum(s.in_system for s in result.stations)
    assert total_l == pytest.approx(sum(external) * result.sojourn)
    assert result.sojourn == pytest.approx(
        sum(v * s.sojourn for v, s in zip(result.visits, result.stations, strict=True))
    )
    for lam, station, mu, c in zip(
        result.arrival_rates, result.stations, [6.0, 5.0, 2.0], [1, 1, 2], strict=True
    ):
        assert_metrics_close(station, mmc(lam, mu, c))


Network = tuple[list[float], np.ndarray, list[float], list[int]]
"""(external_rates, routing, service_rates, servers), the arguments of jackson()."""


@st.composite
def stable_networks(draw: st.DrawFn) -> Network:
    """Random open networks: every row leaves with probability >= 1/51, ample service capacity."""
    n = draw(st.integers(min_value=1, max_value=6))
    unit = st.floats(min_value=0.0, max_value=1.0)
    external = draw(st.lists(st.floats(min_value=0.0, max_value=10.0), min_size=n, max_size=n))
    external[draw(st.integers(min_value=0, max_value=n - 1))] += 1.0
    weights = np.array(draw(st.lists(unit, min_size=n * n, max_size=n * n))).reshape(n, n)
    leave = np.array(draw(st.lists(st.floats(min_value=0.1, max_value=1.0), min_size=n, max_size=n)))
    routing = weights / (weights.sum(axis=1) + leave)[:, None]
    # Row sums are at most 6 / 6.1, so lambda_i <= 61 * sum(external); give every station more.
    servers = draw(st.lists(st.integers(min_value=1, max_value=4), min_size=n, max_size=n))
    capacity = 62 * sum(external)
    service_rates = [capacity / c * draw(st.floats(min_value=1.0, max_value=3.0)) for c in servers]
    return external, routing, service_rates, servers


@given(stable_networks())
def test_jackson_solves_traffic_equations(network: Network) -> None:
    external, routing, service_rates, servers = network
    result = jackson(external, routing, service_rates, servers)
    lam = np.array(result.arrival_rates)
    np.testing.assert_allclose(lam, np.array(external) + routing.T @ lam, rtol=0, atol=1e-9)
    assert sum(s.in_system for s in result.stations) == pytest.approx(sum(external) * result.sojourn)
    assert all(v >= 0 for v in result.visits)


# --- invalid input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mm1(5.0, 4.0), r"rho=1\.25 >= 1 \(arrival_rate=5\.0, service_rate=4\.0\)"),
        (lambda: mm1(4.0, 4.0), r"rho=1\.0 >= 1"),
        (lambda: mm1(-1.0, 4.0), r"arrival_rate must be .* got -1\.0"),
        (lambda: mm1(1.0, -2.0), r"service_rate must be .* > 0, got -2\.0"),
        (lambda: mm1(1.0, 0.0), r"service_rate must be .* > 0, got 0\.0"),
        (lambda: mm1(math.nan, 1.0), r"arrival_rate must be .* got nan"),
        (lambda: mmc(9.0, 2.0, 4), r"rho=1\.125 >= 1 .*servers=4"),
        (lambda: mmc(1.0, 2.0, 0), r"servers must be an integer >= 1, got 0"),
        (lambda: mmc(1.0, 2.0, 2.5), r"servers must be an integer >= 1, got 2\.5"),
        (lambda: erlang_c(0, 0.5), r"servers must be an integer >= 1, got 0"),
        (lambda: erlang_c(3, 3.0), r"offered_load=3\.0 >= servers=3"),
        (lambda: erlang_c(3, -0.5), r"offered_load must be .* got -0\.5"),
        (lambda: mg1(2.0, 0.5, 0.1), r"rho=1\.0 >= 1 \(arrival_rate=2\.0, service_mean=0\.5\)"),
        (lambda: mg1(1.0, 0.5, -0.1), r"service_variance must be .* got -0\.1"),
        (lambda: md1(3.0, 0.5), r"rho=1\.5 >= 1"),
        (lambda: little_l(-3.0, 1.0), r"arrival_rate must be .* got -3\.0"),
    ],
)
def test_single_queue_invalid_input(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([1.0, 0.0], [[0, 0.7], [0.5, 0.6]], [5.0, 5.0]), r"routing row 1 sums to 1\.1 > 1"),
        (([1.0], [[-0.2]], [5.0]), r"routing\[0\]\[0\]=-0\.2 is not a probability"),
        (([1.0, 0.0], [[0, 1], [1, 0]], [5.0, 5.0]), r"stations \[0, 1\] can never route jobs out"),
        (([1.0, 0.0, 0.0], [[0, 0.5, 0], [0, 0, 1], [0, 1, 0]], [5.0] * 3), r"stations \[1, 2\] can never"),
        (([1.0], [[0.9]], [5.0]), r"station 0 is unstable: arrival rate 10\.0.* >= servers \* service_rate"),
        (
            ([3.0, 0.0], [[0, 1], [0, 0]], [5.0, 1.0], [1, 2]),
            r"station 1 is unstable: arrival rate 3\.0 >= .*2 \* 1\.0",
        ),
        (([-1.0], [[0.0]], [5.0]), r"external_rates\[0\] must be .* got -1\.0"),
        (([1.0, 1.0], [[0, 0], [0, 0]], [5.0, -5.0]), r"service_rates\[1\] must be .* got -5\.0"),
        (([1.0, 1.0], [[0, 0], [0, 0]], [5.0, 5.0], [1, 0]), r"servers\[1\] must be an integer >= 1, got 0"),
        (([0.0, 0.0], [[0, 0], [0, 0]], [5.0, 5.0]), r"external_rates are all 0"),
        (([1.0], [[0, 0], [0, 0]], [5.0]), r"1x1 matrix .* got shape \(2, 2\)"),
        (([1.0, 1.0], [[0]], [5.0]), r"external_rates has 2 entries for 1 stations"),
    ],
)
def test_jackson_invalid_input(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        jackson(*args)


def test_tandem_invalid_input() -> None:
    with pytest.raises(
        ValueError, match=r"station 1 is unstable: arrival rate 2\.0 >= servers \* service_rate = 1 \* 1\.5"
    ):
        tandem(2.0, [3.0, 1.5])
    with pytest.raises(ValueError, match="at least one station"):
        tandem(1.0, [])


def test_lru_hit_ratio_of_uniform_popularity_is_the_cached_fraction() -> None:
    """Under uniform popularity every item is alike, so an LRU of C out of N items hits C/N of requests."""
    from simulator.analytic import lru_hit_ratio

    assert lru_hit_ratio(np.full(1000, 1 / 1000), 100) == pytest.approx(0.1, rel=1e-6)


def test_lru_hit_ratio_under_zipf_lies_between_lru_bounds() -> None:
    """Skewed popularity: more than C/N (popular items stay), less than the top-C mass (an ideal cache)."""
    from simulator.analytic import lru_hit_ratio

    weights = 1 / np.arange(1, 10_001)
    p = weights / weights.sum()
    ratio = lru_hit_ratio(p, 500)
    assert 500 / 10_000 < ratio < p[:500].sum()
    assert lru_hit_ratio(p, 10_000) == 1.0


def test_lru_hit_ratio_rejects_bad_input() -> None:
    from simulator.analytic import lru_hit_ratio

    with pytest.raises(ValueError, match="capacity=0"):
        lru_hit_ratio(np.array([0.5, 0.5]), 0)
    with pytest.raises(ValueError, match="summing to 1"):
        lru_hit_ratio(np.array([0.5, 0.6]), 1)
