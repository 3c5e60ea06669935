"""Tests for the service-time distributions in simulator.distributions.

Every model is built the way a scenario builds it -- ``TypeAdapter(Distribution)`` on a dict with
human units -- and checked three ways:

* its ``.mean`` / ``.variance`` against raw moments E[X^k] derived here in closed form, independently
  of the implementation (exponential k! m^k, gamma theta^k Gamma(a+k)/Gamma(a), lognormal
  exp(k mu + k^2 s^2 / 2), uniform (b^(k+1) - a^(k+1)) / ((k+1)(b-a)), mixtures by total expectation);
* the sample mean and variance of draws from :func:`sampler` against those moments, within a
  tolerance derived from the standard error (see ``Z`` below);
* the sampler's mechanics: reproducible for a seed, and continuing correctly past a block of
  :data:`BLOCK` values.

Statistical tolerance (``Z = 4``): for N i.i.d. draws the sample mean has standard error
sqrt(Var / N) and, by the CLT, is approximately normal; the (biased, divide-by-N) sample variance has
standard error sqrt((mu4 - Var^2) / N) where mu4 is the fourth central moment, also approximately
normal for large N. A correct sampler lands outside 4 standard errors with probability about 6e-5 per
check (two-sided normal tail), so with the few dozen checks here a false failure is very unlikely
for any seed; the seeds are fixed anyway, so the suite is deterministic. A wrong mean or shape
parameter that shifts a moment by a few percent is many standard errors away at N = 100 * BLOCK.
The one weak spot is the variance of the heavy lognormal (p99 = 8 x mean, kurtosis ~550): its sample
variance converges slowly and is right-skewed, so its 4-standard-error band (~15%) is wide and the
normal approximation is rough; the p99 and mean checks carry most of the weight for that case.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from scipy.special import gammaln

from simulator.distributions import (
    BLOCK,
    Deterministic,
    Distribution,
    Empirical,
    Exponential,
    Gamma,
    Histogram,
    LogNormal,
    Mixture,
    Uniform,
    sampler,
)

ADAPTER: TypeAdapter[Any] = TypeAdapter(Distribution)
Z = 4.0  # standard errors; justification in the module docstring
N = 100 * BLOCK  # 409,600 draws: crosses 99 block boundaries, ~0.1 s per distribution
Z99 = 2.3263478740408408  # standard normal 99th percentile, written out (scipy.stats.norm.ppf(0.99))


def validate(config: dict[str, Any]) -> Any:
    return ADAPTER.validate_python(config)


# --- independent raw moments ----------------------------------------------------------------


def lognormal_params(mean: float, p99: float) -> tuple[float, float]:
    """(mu, sigma) of ln X from mean = exp(mu + s^2/2) and p99 = exp(mu + z s), smaller root in s."""
    log_ratio = math.log(p99 / mean)
    sigma = Z99 - math.sqrt(Z99**2 - 2 * log_ratio)
    return math.log(mean) - sigma**2 / 2, sigma


def uniform_raw(low: float, high: float, k: int) -> float:
    """E[X^k] for X uniform on [low, high]: (high^(k+1) - low^(k+1)) / ((k+1)(high-low)), written as
    the mean of low^i high^(k-i) so that a bin of width 1e-15 does not cancel catastrophically."""
    return sum(low**i * high ** (k - i) for i in range(k + 1)) / (k + 1)


def raw_moment(config: dict[str, Any], k: int) -> float:
    """E[X^k] for a scenario dict written in seconds (numbers, not unit strings)."""
    kind = config["dist"]
    if kind == "exponential":
        return math.factorial(k) * config["mean"] ** k
    if kind == "deterministic":
        return config["value"] ** k
    if kind == "uniform":
        return uniform_raw(config["low"], config["high"], k)
    if kind == "lognormal":
        mu, sigma = lognormal_params(config["mean"], config["p99"])
        return math.exp(k * mu + k**2 * sigma**2 / 2)
    if kind == "gamma":
        shape = 1 / config["cv"] ** 2
        scale = config["mean"] / shape
        return scale**k * math.exp(gammaln(shape + k) - gammaln(shape))
    if kind == "empirical":
        return float(np.mean(np.asarray(config["samples"], dtype=float) ** k))
    if kind == "histogram":
        edges, counts = config["edges"], np.asarray(config["counts"], dtype=float)
        per_bin = [uniform_raw(a, b, k) for a, b in pairwise(edges)]
        return float(counts @ per_bin / counts.sum())
    if kind == "mixture":
        weights = np.asarray([c["weight"] for c in config["components"]], dtype=float)
        parts = [raw_moment(c["distribution"], k) for c in config["components"]]
        return float(weights @ parts / weights.sum())
    raise AssertionError(kind)


def moments(config: dict[str, Any]) -> tuple[float, float, float]:
    """(mean, variance, fourth central moment) from the raw moments."""
    m1, m2, m3, m4 = (raw_moment(config, k) for k in (1, 2, 3, 4))
    variance = m2 - m1**2
    mu4 = m4 - 4 * m3 * m1 + 6 * m2 * m1**2 - 3 * m1**4
    return m1, variance, mu4


# Each case: (human-unit config handed to the schema, the same config in seconds for the moments).
CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "exponential": ({"dist": "exponential", "mean": "250ms"}, {"dist": "exponential", "mean": 0.25}),
    "deterministic": ({"dist": "deterministic", "value": "3ms"}, {"dist": "deterministic", "value": 0.003}),
    "uniform": (
        {"dist": "uniform", "low": "2ms", "high": "10ms"},
        {"dist": "uniform", "low": 0.002, "high": 0.010},
    ),
    "lognormal-heavy": (
        {"dist": "lognormal", "mean": "10ms", "p99": "80ms"},
        {"dist": "lognormal", "mean": 0.010, "p99": 0.080},
    ),
    "lognormal-mild": (
        {"dist": "lognormal", "mean": "20ms", "p99": "50ms"},
        {"dist": "lognormal", "mean": 0.020, "p99": 0.050},
    ),
    "gamma": ({"dist": "gamma", "mean": "40ms", "cv": 0.5}, {"dist": "gamma", "mean": 0.040, "cv": 0.5}),
    "gamma-bursty": (
        {"dist": "gamma", "mean": "5ms", "cv": 2.0},
        {"dist": "gamma", "mean": 0.005, "cv": 2.0},
    ),
    "empirical": (
        {"dist": "empirical", "samples": ["1ms", "2ms", "2ms", "7ms", "30ms"]},
        {"dist": "empirical", "samples": [0.001, 0.002, 0.002, 0.007, 0.030]},
    ),
    "histogram": (
        {"dist": "histogram", "edges": ["0ms", "5ms", "10ms", "50ms"], "counts": [60, 30, 10]},
        {"dist": "histogram", "edges": [0.0, 0.005, 0.010, 0.050], "counts": [60, 30, 10]},
    ),
    "mixture": (
        {
            "dist": "mixture",
            "components": [
                {"weight": 19, "distribution": {"dist": "deterministic", "value": "1ms"}},
                {"weight": 1, "distribution": {"dist": "lognormal", "mean": "40ms", "p99": "120ms"}},
            ],
        },
        {
            "dist": "mixture",
            "components": [
                {"weight": 19, "distribution": {"dist": "deterministic", "value": 0.001}},
                {"weight": 1, "distribution": {"dist": "lognormal", "mean": 0.040, "p99": 0.120}},
            ],
        },
    ),
    "nested-mixture": (
        {
            "dist": "mixture",
            "components": [
                {"weight": 0.7, "distribution": {"dist": "exponential", "mean": "2ms"}},
                {
                    "weight": 0.3,
                    "distribution": {
                        "dist": "mixture",
                        "components": [
                            {"weight": 1, "distribution": {"dist": "uniform", "low": "10ms", "high": "20ms"}},
                            {"weight": 3, "distribution": {"dist": "gamma", "mean": "50ms", "cv": 0.3}},
                        ],
                    },
                },
            ],
        },
        {
            "dist": "mixture",
            "components": [
                {"weight": 0.7, "distribution": {"dist": "exponential", "mean": 0.002}},
                {
                    "weight": 0.3,
                    "distribution": {
                        "dist": "mixture",
                        "components": [
                            {"weight": 1, "distribution": {"dist": "uniform", "low": 0.010, "high": 0.020}},
                            {"weight": 3, "distribution": {"dist": "gamma", "mean": 0.050, "cv": 0.3}},
                        ],
                    },
                },
            ],
        },
    ),
}

EXPECTED_TYPES = {
    "exponential": Exponential,
    "deterministic": Deterministic,
    "uniform": Uniform,
    "lognormal": LogNormal,
    "gamma": Gamma,
    "empirical": Empirical,
    "histogram": Histogram,
    "mixture": Mixture,
}


def draw_many(dist: Any, seed: int, n: int = N) -> np.ndarray:
    draw = sampler(dist, np.random.default_rng(seed))
    return np.array([draw() for _ in range(n)])


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> tuple[str, Any, dict[str, Any], np.ndarray]:
    human, seconds = CASES[request.param]
    dist = validate(human)
    seed = 20240 + sorted(CASES).index(request.param)
    return request.param, dist, seconds, draw_many(dist, seed)


def test_validation_picks_the_model_by_dist_key(case: tuple[str, Any, dict[str, Any], np.ndarray]) -> None:
    _, dist, seconds, _ = case
    assert isinstance(dist, EXPECTED_TYPES[seconds["dist"]])


def test_model_moments_match_closed_forms(case: tuple[str, Any, dict[str, Any], np.ndarray]) -> None:
    _, dist, seconds, _ = case
    mean, variance, _ = moments(seconds)
    assert dist.mean == pytest.approx(mean, rel=1e-9)
    assert dist.variance == pytest.approx(variance, rel=1e-9, abs=1e-18)


def test_sample_mean_within_standard_errors(case: tuple[str, Any, dict[str, Any], np.ndarray]) -> None:
    name, dist, _, draws = case
    assert draws.shape == (N,)
    assert np.all(draws >= 0), name
    standard_error = math.sqrt(dist.variance / N)
    assert abs(draws.mean() - dist.mean) <= Z * standard_error + 1e-15, name


def test_sample_variance_within_standard_errors(case: tuple[str, Any, dict[str, Any], np.ndarray]) -> None:
    name, dist, seconds, draws = case
    _, variance, mu4 = moments(seconds)
    # Var(s^2) ~= (mu4 - sigma^4) / N for the divide-by-N estimator (O(1/N^2) terms dropped).
    standard_error = math.sqrt(max(mu4 - variance**2, 0.0) / N)
    assert abs(draws.var() - dist.variance) <= Z * standard_error + 1e-15, name


def test_deterministic_draws_are_exactly_the_value() -> None:
    draws = draw_many(validate({"dist": "deterministic", "value": "3ms"}), seed=1, n=2 * BLOCK + 1)
    assert set(draws.tolist()) == {0.003}


def test_uniform_and_histogram_stay_in_their_support() -> None:
    uniform = draw_many(validate(CASES["uniform"][0]), seed=2, n=3 * BLOCK)
    assert uniform.min() >= 0.002
    assert uniform.max() <= 0.010
    histogram = validate(CASES["histogram"][0])
    draws = draw_many(histogram, seed=3, n=20 * BLOCK)
    assert draws.min() >= 0.0
    assert draws.max() <= 0.050
    # Bin shares are binomial: share p, standard error sqrt(p (1 - p) / n); Z of them allowed.
    n = len(draws)
    shares = np.histogram(draws, bins=[0.0, 0.005, 0.010, 0.050])[0] / n
    for share, p in zip(shares, (0.6, 0.3, 0.1), strict=True):
        assert abs(share - p) <= Z * math.sqrt(p * (1 - p) / n)


def test_empirical_only_resamples_observed_values() -> None:
    draws = draw_many(validate(CASES["empirical"][0]), seed=4, n=10 * BLOCK)
    assert set(draws.tolist()) == {0.001, 0.002, 0.007, 0.030}
    # 0.002 was observed twice in five: share 0.4, binomial standard error sqrt(0.4 * 0.6 / n).
    n = len(draws)
    assert abs(np.mean(draws == 0.002) - 0.4) <= Z * math.sqrt(0.24 / n)


def test_mixture_component_shares_follow_the_weights() -> None:
    draws = draw_many(validate(CASES["mixture"][0]), seed=5, n=20 * BLOCK)
    # The deterministic 1ms component has weight 19/20; the lognormal one is continuous and hits
    # exactly 1ms with probability 0, so the share of exact 1ms values is binomial(n, 0.95).
    n = len(draws)
    assert abs(np.mean(draws == 0.001) - 0.95) <= Z * math.sqrt(0.95 * 0.05 / n)


# --- LogNormal parameterised by its 99th percentile ---------------------------------------


@pytest.mark.parametrize("name", ["lognormal-heavy", "lognormal-mild"])
def test_lognormal_empirical_p99_matches(name: str) -> None:
    dist = validate(CASES[name][0])
    p99 = CASES[name][1]["p99"]
    draws = draw_many(dist, seed=99, n=N)
    # (1) The share of draws at or below p99 is binomial(N, 0.99): standard error sqrt(.99 * .01 / N)
    #     ~= 1.6e-4, so Z of them is +-6.2e-4 around 0.99.
    assert abs(np.mean(draws <= p99) - 0.99) <= Z * math.sqrt(0.99 * 0.01 / N)
    # (2) The sample quantile has asymptotic standard error sqrt(p (1 - p) / N) / f(q), with the
    #     lognormal density f(q) = phi(z) / (q * sigma) at q = p99, i.e. a relative error of
    #     sqrt(p (1 - p) / N) * sigma / phi(z) (~0.7% for sigma ~= 1.2 at N = 409,600).
    _, sigma = lognormal_params(CASES[name][1]["mean"], p99)
    phi_z = math.exp(-(Z99**2) / 2) / math.sqrt(2 * math.pi)
    relative_se = math.sqrt(0.99 * 0.01 / N) * sigma / phi_z
    assert np.quantile(draws, 0.99) == pytest.approx(p99, rel=Z * relative_se)


@settings(max_examples=60, deadline=None)
@given(
    mean=st.floats(min_value=1e-6, max_value=1e3),
    ratio=st.floats(min_value=1.0001, max_value=math.exp(Z99**2 / 2) * (1 - 1e-9)),
)
def test_lognormal_parameters_reproduce_mean_and_p99(mean: float, ratio: float) -> None:
    dist = validate({"dist": "lognormal", "mean": mean, "p99": mean * ratio})
    assert math.exp(dist.mu + dist.sigma**2 / 2) == pytest.approx(mean, rel=1e-9)
    assert math.exp(dist.mu + Z99 * dist.sigma) == pytest.approx(mean * ratio, rel=1e-9)
    # The smaller root: sigma below z (the larger root is above it and has a far heavier tail).
    assert 0 < dist.sigma <= Z99 + 1e-9


def test_lognormal_accepts_the_largest_reachable_p99() -> None:
    limit = math.exp(Z99**2 / 2)  # ~14.97: the double root sigma = z
    dist = validate({"dist": "lognormal", "mean": 1.0, "p99": limit * (1 - 1e-12)})
    assert dist.sigma == pytest.approx(Z99, rel=1e-4)


# --- the block sampler --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["exponential", "lognormal-heavy", "histogram", "mixture"])
def test_sampler_is_reproducible_for_a_seed(name: str) -> None:
    dist = validate(CASES[name][0])
    n = 2 * BLOCK + 17
    first, second = draw_many(dist, seed=7, n=n), draw_many(dist, seed=7, n=n)
    np.testing.assert_array_equal(first, second)
    other = draw_many(dist, seed=8, n=n)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("name", ["exponential", "uniform", "gamma", "empirical"])
def test_sampler_continues_across_block_boundaries(name: str) -> None:
    dist = validate(CASES[name][0])
    draws = draw_many(dist, seed=11, n=3 * BLOCK + 5)
    assert len(draws) == 3 * BLOCK + 5
    # Every block is freshly drawn, not a replay of the first one.
    blocks = draws[: 3 * BLOCK].reshape(3, BLOCK)
    assert not np.array_equal(blocks[0], blocks[1])
    assert not np.array_equal(blocks[1], blocks[2])
    # And the stream is exactly successive blocks of the model's own draws from the same generator.
    rng = np.random.default_rng(11)
    expected = np.concatenate([dist.draw(rng, BLOCK) for _ in range(4)])[: len(draws)]
    np.testing.assert_array_equal(draws, expected)


def test_sampler_hands_out_python_floats() -> None:
    draw = sampler(validate(CASES["gamma"][0]), np.random.default_rng(0))
    assert all(type(draw()) is float for _ in range(BLOCK + 3))


# --- validation errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"dist": "lognormal", "mean": "10ms", "p99": "10ms"}, "mean < p99"),
        ({"dist": "lognormal", "mean": "10ms", "p99": "5ms"}, "mean < p99"),
        ({"dist": "lognormal", "mean": "10ms", "p99": "151ms"}, "x mean"),
        ({"dist": "lognormal", "mean": "10ms", "p99": "1s"}, "x mean"),
        ({"dist": "uniform", "low": "10ms", "high": "5ms"}, "low <= high"),
        ({"dist": "histogram", "edges": ["0ms", "1ms", "2ms"], "counts": [1, 2, 3]}, "one count per bin"),
        ({"dist": "histogram", "edges": ["0ms", "1ms", "2ms"], "counts": [1]}, "one count per bin"),
        ({"dist": "histogram", "edges": ["0ms", "2ms", "1ms"], "counts": [1, 1]}, "increase strictly"),
        ({"dist": "histogram", "edges": ["0ms", "1ms", "1ms"], "counts": [1, 1]}, "increase strictly"),
        ({"dist": "histogram", "edges": ["0ms", "1ms"], "counts": [-1]}, "non-negative"),
        ({"dist": "histogram", "edges": ["0ms", "1ms"], "counts": [0]}, "positive total"),
        ({"dist": "exponential", "mean": "0ms"}, "greater than 0"),
        ({"dist": "exponential", "mean": "-5ms"}, "greater than 0"),
        ({"dist": "exponential", "mean": 0}, "greater than 0"),
        ({"dist": "gamma", "mean": "0s", "cv": 1}, "greater than 0"),
        ({"dist": "gamma", "mean": "-1s", "cv": 1}, "greater than 0"),
        ({"dist": "gamma", "mean": "1s", "cv": 0}, "greater than 0"),
        ({"dist": "lognormal", "mean": "0ms", "p99": "10ms"}, "greater than 0"),
        ({"dist": "deterministic", "value": "-1ms"}, "greater than or equal to 0"),
        ({"dist": "uniform", "low": "-1ms", "high": "1ms"}, "greater than or equal to 0"),
        ({"dist": "empirical", "samples": []}, "at least 1"),
        ({"dist": "empirical", "samples": ["1ms", "soon"]}, "'soon'"),
        ({"dist": "exponential", "mean": "10 parsecs"}, "'10 parsecs'"),
        ({"dist": "mixture", "components": []}, "at least 1"),
        (
            {
                "dist": "mixture",
                "components": [{"weight": 0, "distribution": {"dist": "exponential", "mean": 1}}],
            },
            "greater than 0",
        ),
        ({"dist": "pareto", "mean": "10ms"}, "pareto"),
        ({"mean": "10ms"}, "dist"),
        ({"dist": "exponential", "mean": "10ms", "p99": "20ms"}, "p99"),
        ({"dist": "exponential"}, "mean"),
    ],
)
def test_invalid_configs_raise_helpful_validation_errors(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        validate(config)
    assert message in str(excinfo.value)


def test_unknown_dist_lists_the_known_ones() -> None:
    with pytest.raises(ValidationError) as excinfo:
        validate({"dist": "pareto", "mean": "10ms"})
    text = str(excinfo.value)
    for known in ("exponential", "deterministic", "uniform", "lognormal", "gamma", "histogram", "mixture"):
        assert known in text


def test_lognormal_error_reports_the_values_in_seconds() -> None:
    with pytest.raises(ValidationError) as excinfo:
        validate({"dist": "lognormal", "mean": "10ms", "p99": "200ms"})
    text = str(excinfo.value)
    assert "mean=0.01s" in text
    assert "p99=0.2s" in text
    assert "15.0 x mean" in text  # exp(z^2 / 2) = 14.97 rounded


def test_models_are_frozen() -> None:
    dist = validate({"dist": "exponential", "mean": "1s"})
    with pytest.raises(ValidationError):
        dist.mean = 2.0


@settings(max_examples=60, deadline=None)
@given(
    edges=st.lists(
        st.floats(min_value=0, max_value=10, allow_nan=False), min_size=2, max_size=6, unique=True
    ),
    data=st.data(),
)
def test_histogram_moments_and_support_for_any_valid_histogram(
    edges: list[float], data: st.DataObject
) -> None:
    edges = sorted(edges)
    counts = data.draw(st.lists(st.integers(0, 50), min_size=len(edges) - 1, max_size=len(edges) - 1))
    if sum(counts) == 0:
        counts[0] = 1
    config = {"dist": "histogram", "edges": edges, "counts": counts}
    dist = validate(config)
    mean, variance, _ = moments(config)
    assert dist.mean == pytest.approx(mean, rel=1e-9, abs=1e-12)
    assert dist.variance == pytest.approx(variance, rel=1e-6, abs=1e-9)
    assert edges[0] <= dist.mean <= edges[-1]
    draws = dist.draw(np.random.default_rng(0), 256)
    assert np.all((draws >= edges[0]) & (draws <= edges[-1]))
