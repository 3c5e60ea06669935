"""Tests for the open-loop arrival processes in simulator.arrivals.

Expected counts are integrals of the rate function written out by hand (piecewise-constant steps,
linear ramps, closed-form integrals of the sinusoid). For every Poisson-type process the number of
arrivals in a window is Poisson distributed with mean equal to the integral of the rate over that
window (also for the thinned non-homogeneous ones: Lewis-Shedler thinning is exact), so its standard
deviation is sqrt(mean); a correct implementation lands outside Z = 4 standard deviations with
probability about 6e-5 per check (normal approximation, means here are >= 500). Disjoint windows are
independent, so each gets its own 4-sigma band. Seeds are fixed, so the suite is deterministic.

MMPP counts are over-dispersed (the rate itself is random); the tolerance for them is derived from the
asymptotic variance of a Markov-modulated Poisson count, see :func:`mmpp_count_moments`.
"""

from __future__ import annotations

import math
from itertools import islice, takewhile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from simulator.arrivals import (
    MMPP,
    ArrivalProcess,
    Constant,
    Poisson,
    Ramp,
    Sinusoidal,
    Step,
    Trace,
)
from simulator.distributions import BLOCK

ADAPTER: TypeAdapter[Any] = TypeAdapter(ArrivalProcess)
Z = 4.0


def validate(config: dict[str, Any], **context: Any) -> Any:
    return ADAPTER.validate_python(config, context=context or None)


def arrivals_before(process: Any, horizon: float, seed: int) -> np.ndarray:
    times = process.times(np.random.default_rng(seed))
    return np.fromiter(takewhile(lambda t: t < horizon, times), float)


def count_in(times: np.ndarray, start: float, stop: float) -> int:
    return int(np.count_nonzero((times >= start) & (times < stop)))


def assert_poisson_count(observed: int, expected: float, label: str = "") -> None:
    # Poisson: variance = mean, so the standard deviation is sqrt(expected).
    assert abs(observed - expected) <= Z * math.sqrt(expected), (label, observed, expected)


class RunawayGeneratorError(Exception):
    """Raised by :class:`BudgetRng` when a process keeps drawing random numbers without end."""


class BudgetRng:
    """A numpy Generator that refuses to be called more than ``budget`` times.

    Lets a test observe an iterator that would otherwise spin forever (drawing and discarding
    candidates) without hanging the suite.
    """

    def __init__(self, seed: int, budget: int) -> None:
        self._rng, self.calls, self.budget = np.random.default_rng(seed), 0, budget

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._rng, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls > self.budget:
                raise RunawayGeneratorError(f"{self.calls} calls to rng.{name}")
            return method(*args, **kwargs)

        return counted


def drain_with_budget(
    process: Any, seed: int, until: float = 100.0, budget: int = 400
) -> tuple[np.ndarray, bool]:
    """All arrivals before ``until``, and whether the iterator ended on its own within ``budget`` calls."""
    times: list[float] = []
    try:
        for t in process.times(BudgetRng(seed, budget), until):
            times.append(t)
    except RunawayGeneratorError:
        return np.asarray(times), False
    return np.asarray(times), True


def gap_cv(times: np.ndarray) -> float:
    gaps = np.diff(times)
    return float(gaps.std() / gaps.mean())


# --- Poisson --------------------------------------------------------------------------------


def test_poisson_count_matches_rate() -> None:
    process = validate({"process": "poisson", "rate": "500/s"})
    assert isinstance(process, Poisson)
    assert process.rate == 500.0
    times = arrivals_before(process, 100.0, seed=1)
    assert_poisson_count(len(times), 500.0 * 100.0)
    assert np.all(np.diff(times) >= 0)
    assert times[0] > 0


def test_poisson_gaps_are_exponential() -> None:
    times = arrivals_before(validate({"process": "poisson", "rate": "30/min"}), 100_000.0, seed=2)
    n = len(times) - 1
    gaps = np.diff(times)
    # Mean gap 1 / rate = 2 s, standard error 2 / sqrt(n).
    assert abs(gaps.mean() - 2.0) <= Z * 2.0 / math.sqrt(n)
    # For exponential gaps the sample coefficient of variation has asymptotic standard error
    # 1 / sqrt(n) (delta method with mu2 = m^2, mu3 = 2 m^3, mu4 = 9 m^4: 1 + 8/4 - 2 = 1).
    assert abs(gap_cv(times) - 1.0) <= Z / math.sqrt(n)


def test_poisson_counts_per_window_have_variance_equal_to_mean() -> None:
    times = arrivals_before(validate({"process": "poisson", "rate": "500/s"}), 100.0, seed=3)
    counts = np.histogram(times, bins=np.arange(0.0, 100.0 + 1e-9, 0.1))[0]
    # Index of dispersion D = s^2 / mean of k = 1000 Poisson(50) counts: (k - 1) D ~ chi2(k - 1), so
    # D has mean 1 and standard deviation sqrt(2 / (k - 1)) ~= 0.045. Regular or clumped arrivals would
    # give D far below or above 1.
    k = len(counts)
    assert k == 1000
    dispersion = counts.var(ddof=1) / counts.mean()
    assert abs(dispersion - 1.0) <= Z * math.sqrt(2 / (k - 1))


def test_poisson_with_zero_rate_never_arrives() -> None:
    process = validate({"process": "poisson", "rate": 0})
    assert list(process.times(np.random.default_rng(0))) == []


# --- Constant -------------------------------------------------------------------------------


def test_constant_arrivals_are_evenly_spaced() -> None:
    process = validate({"process": "constant", "rate": "7/s"})
    assert isinstance(process, Constant)
    times = np.fromiter(islice(process.times(np.random.default_rng(0)), 3 * BLOCK + 5), float)
    np.testing.assert_allclose(times, np.arange(1, len(times) + 1) / 7.0, rtol=1e-12)
    np.testing.assert_allclose(np.diff(times), 1 / 7.0, rtol=1e-9)


@pytest.mark.parametrize(("rate", "horizon"), [("7/s", 10.05), ("500/s", 3.0001), ("1/10s", 95.0)])
def test_constant_count_is_floor_of_rate_times_horizon(rate: str, horizon: float) -> None:
    process = validate({"process": "constant", "rate": rate})
    times = arrivals_before(process, horizon, seed=0)
    assert len(times) == math.floor(horizon * process.rate)


def test_constant_ignores_the_generator() -> None:
    process = validate({"process": "constant", "rate": "3/s"})
    a = list(islice(process.times(np.random.default_rng(1)), 100))
    b = list(islice(process.times(np.random.default_rng(2)), 100))
    assert a == b


def test_constant_rejects_zero_rate() -> None:
    with pytest.raises(ValidationError, match="greater than 0"):
        validate({"process": "constant", "rate": "0/s"})


# --- Step -----------------------------------------------------------------------------------


def test_step_count_in_each_interval_matches_its_rate() -> None:
    process = validate(
        {
            "process": "step",
            "steps": [
                {"at": "5s", "rate": "100/s"},
                {"at": "15s", "rate": "300/s"},
                {"at": "25s", "rate": "50/s"},
            ],
        }
    )
    assert isinstance(process, Step)
    times = arrivals_before(process, 35.0, seed=4)
    assert np.all(np.diff(times) >= 0)
    assert count_in(times, 0.0, 5.0) == 0  # rate is 0 before the first step
    assert_poisson_count(count_in(times, 5.0, 15.0), 100 * 10, "100/s step")
    assert_poisson_count(count_in(times, 15.0, 25.0), 300 * 10, "300/s step")
    assert_poisson_count(count_in(times, 25.0, 35.0), 50 * 10, "50/s step")


def test_step_down_to_zero_silences_the_interval() -> None:
    process = validate(
        {
            "process": "step",
            "steps": [{"at": 0, "rate": "200/s"}, {"at": "10s", "rate": 0}, {"at": "20s", "rate": "200/s"}],
        }
    )
    times = arrivals_before(process, 30.0, seed=5)
    assert count_in(times, 10.0, 20.0) == 0
    assert_poisson_count(count_in(times, 0.0, 10.0), 2000)
    assert_poisson_count(count_in(times, 20.0, 30.0), 2000)


def test_step_rejects_unsorted_steps() -> None:
    with pytest.raises(ValidationError, match="step times must increase"):
        validate({"process": "step", "steps": [{"at": "10s", "rate": 1}, {"at": "5s", "rate": 2}]})


def test_step_needs_at_least_one_step() -> None:
    with pytest.raises(ValidationError, match="at least 1"):
        validate({"process": "step", "steps": []})


# --- Ramp -----------------------------------------------------------------------------------


def test_ramp_count_follows_the_integral_of_the_rate() -> None:
    process = validate(
        {"process": "ramp", "rate_from": "100/s", "rate_to": "500/s", "start": "10s", "end": "30s"}
    )
    assert isinstance(process, Ramp)
    times = arrivals_before(process, 40.0, seed=6)
    assert np.all(np.diff(times) >= 0)
    # rate: 100 before 10 s, 100 -> 500 linearly over [10, 30), then held at 500.
    assert_poisson_count(count_in(times, 0.0, 10.0), 100 * 10, "before the ramp")
    assert_poisson_count(count_in(times, 10.0, 20.0), (100 + 300) / 2 * 10, "first half of the ramp")
    assert_poisson_count(count_in(times, 20.0, 30.0), (300 + 500) / 2 * 10, "second half of the ramp")
    assert_poisson_count(count_in(times, 30.0, 40.0), 500 * 10, "held after the ramp")


def test_ramp_down_to_zero_stops_arrivals_after_end() -> None:
    process = validate({"process": "ramp", "rate_from": "400/s", "rate_to": 0, "end": "20s"})
    times, ended = drain_with_budget(process, seed=7, until=30.0)
    assert ended
    assert len(times) > 0
    assert times.max() < 20.0
    assert np.all(np.diff(times) >= 0)
    assert_poisson_count(count_in(times, 0.0, 10.0), (400 + 200) / 2 * 10)
    assert_poisson_count(count_in(times, 10.0, 20.0), (200 + 0) / 2 * 10)


@pytest.mark.parametrize(("start", "end"), [("10s", "10s"), ("10s", "5s"), ("1min", "59s")])
def test_ramp_rejects_end_not_after_start(start: str, end: str) -> None:
    with pytest.raises(ValidationError, match="ramp needs start < end"):
        validate({"process": "ramp", "rate_from": 1, "rate_to": 2, "start": start, "end": end})


# --- Sinusoidal -----------------------------------------------------------------------------


def sinusoid_integral(
    mean: float, amplitude: float, period: float, phase: float, a: float, b: float
) -> float:
    """Closed form of the integral over [a, b] of mean + amplitude * sin(2 pi (t - phase) / period)."""
    w = 2 * math.pi / period
    return mean * (b - a) + amplitude / w * (math.cos(w * (a - phase)) - math.cos(w * (b - phase)))


def test_sinusoidal_count_follows_the_integral_of_the_rate() -> None:
    mean, amplitude, period, phase = 100.0, 80.0, 40.0, 10.0
    process = validate(
        {"process": "sinusoidal", "mean": "100/s", "amplitude": "80/s", "period": "40s", "phase": "10s"}
    )
    assert isinstance(process, Sinusoidal)
    times = arrivals_before(process, 50.0, seed=8)
    assert np.all(np.diff(times) >= 0)
    # [10, 30) is the high half-cycle (~3019 expected), [30, 50) the low one (~981): far more than
    # 4 sqrt(n) apart, so a wrong phase, period or sign is caught.
    for a, b in [(0.0, 10.0), (10.0, 30.0), (30.0, 50.0)]:
        expected = sinusoid_integral(mean, amplitude, period, phase, a, b)
        assert_poisson_count(count_in(times, a, b), expected, f"[{a}, {b})")


def test_sinusoidal_high_and_low_half_cycles() -> None:
    mean, amplitude, period, phase = 1000.0, 800.0, 1.0, 0.25
    process = validate(
        {"process": "sinusoidal", "mean": "1000/s", "amplitude": "800/s", "period": "1s", "phase": "250ms"}
    )
    times = arrivals_before(process, 20.0, seed=9)
    high = (times - phase) % period < period / 2
    # Over 20 whole periods each half-cycle class integrates to 20 (P mean / 2 +- A P / pi).
    assert_poisson_count(int(high.sum()), 20 * (period * mean / 2 + amplitude * period / math.pi), "high")
    assert_poisson_count(int((~high).sum()), 20 * (period * mean / 2 - amplitude * period / math.pi), "low")


def test_sinusoidal_allows_amplitude_equal_to_mean() -> None:
    process = validate({"process": "sinusoidal", "mean": "10/s", "amplitude": "10/s", "period": "1min"})
    assert process.amplitude == process.mean == 10.0


def test_sinusoidal_rejects_amplitude_above_mean() -> None:
    with pytest.raises(ValidationError, match="sinusoidal rate would go negative"):
        validate({"process": "sinusoidal", "mean": "10/s", "amplitude": "11/s", "period": "1min"})


# --- MMPP -----------------------------------------------------------------------------------


def mmpp_count_moments(rates: list[float], durations: list[float], horizon: float) -> tuple[float, float]:
    """Mean and (asymptotic) variance of the MMPP arrival count in [0, T), starting in state 0.

    The modulating chain has generator Q (leave state i at rate 1/d_i, to each other state with equal
    probability); its stationary law is pi_i proportional to d_i because the jump chain is uniform.
    With the deviation matrix D = (1 pi - Q)^-1 - 1 pi (Kemeny-Snell):

    * E N(T) = lambda_bar T + (D lambda)_0 + o(1): the second term is the bias from starting in
      state 0 rather than in stationarity;
    * Var N(T) = (lambda_bar + 2 (pi * lambda)^T D lambda) T + O(1): Poisson noise plus the
      integrated autocovariance of the rate process. For two states this is the textbook
      lambda_bar + 2 pi_1 pi_2 (lambda_1 - lambda_2)^2 / (1/d_1 + 1/d_2).
    """
    n = len(rates)
    lam = np.asarray(rates, dtype=float)
    d = np.asarray(durations, dtype=float)
    q = np.empty((n, n))
    for i in range(n):
        q[i] = 1 / d[i] / (n - 1)
        q[i, i] = -1 / d[i]
    pi = d / d.sum()
    np.testing.assert_allclose(pi @ q, 0, atol=1e-9)
    stationary = np.outer(np.ones(n), pi)
    deviation = np.linalg.inv(stationary - q) - stationary
    mean_rate = float(pi @ lam)
    mean = mean_rate * horizon + float((deviation @ lam)[0])
    variance = (mean_rate + 2 * float((pi * lam) @ deviation @ lam)) * horizon
    return mean, variance


@pytest.mark.parametrize(
    ("rates", "durations", "horizon", "seed"),
    [
        ([400.0, 50.0], [0.05, 0.15], 300.0, 10),  # bursty two-level traffic, ~41k arrivals
        ([1000.0, 0.0], [0.1, 0.4], 200.0, 11),  # on/off bursts, ~40k arrivals
        ([0.0, 100.0, 400.0], [0.2, 0.1, 0.05], 300.0, 12),  # three states, uniform jumps
    ],
)
def test_mmpp_long_run_count(rates: list[float], durations: list[float], horizon: float, seed: int) -> None:
    process = validate(
        {
            "process": "mmpp",
            "states": [
                {"rate": rate, "mean_duration": f"{duration * 1000:g}ms"}
                for rate, duration in zip(rates, durations, strict=True)
            ],
        }
    )
    assert isinstance(process, MMPP)
    times = arrivals_before(process, horizon, seed=seed)
    assert np.all(np.diff(times) >= 0)
    # The count over a horizon of thousands of state sojourns is approximately normal (CLT for the
    # Markov-renewal structure), so 4 of the derived standard deviations is the band: 7-13% of the
    # mean here, while e.g. reading mean_duration as a rate moves the first case's mean by > 100%.
    expected, variance = mmpp_count_moments(rates, durations, horizon)
    assert abs(len(times) - expected) <= Z * math.sqrt(variance), (len(times), expected, math.sqrt(variance))


def test_mmpp_with_equal_rates_is_poisson() -> None:
    # Switching between states with the same rate must not change anything: the result is Poisson(200)
    # only if each sojourn restarts the exponential clock correctly and no arrival is lost or doubled.
    process = validate(
        {
            "process": "mmpp",
            "states": [
                {"rate": "200/s", "mean_duration": "50ms"},
                {"rate": "200/s", "mean_duration": "20ms"},
            ],
        }
    )
    times = arrivals_before(process, 100.0, seed=13)
    assert_poisson_count(len(times), 200 * 100)
    assert abs(gap_cv(times) - 1.0) <= Z / math.sqrt(len(times) - 1)


def test_mmpp_on_off_has_gaps_with_cv_above_one() -> None:
    process = validate(
        {
            "process": "mmpp",
            "states": [{"rate": "1000/s", "mean_duration": "100ms"}, {"rate": 0, "mean_duration": "400ms"}],
        }
    )
    times = arrivals_before(process, 50.0, seed=14)
    # Bursts separated by silences: the gap CV is far above the Poisson value 1 (about 6 here).
    assert gap_cv(times) > 2.0


@pytest.mark.parametrize(
    "states",
    [
        [{"rate": "10/s", "mean_duration": "1s"}],
        [{"rate": "10/s", "mean_duration": "1s"}, {"rate": "10/s", "mean_duration": "0s"}],
        [{"rate": "10/s", "mean_duration": "1s"}, {"rate": "-1/s", "mean_duration": "1s"}],
    ],
)
def test_mmpp_rejects_bad_states(states: list[dict[str, Any]]) -> None:
    with pytest.raises(ValidationError):
        validate({"process": "mmpp", "states": states})


# --- shared properties ------------------------------------------------------------------------

GENERATED: dict[str, dict[str, Any]] = {
    "poisson": {"process": "poisson", "rate": "2000/s"},
    "constant": {"process": "constant", "rate": "2000/s"},
    "step": {"process": "step", "steps": [{"at": 0, "rate": "1000/s"}, {"at": "1s", "rate": "3000/s"}]},
    "ramp": {"process": "ramp", "rate_from": "500/s", "rate_to": "3000/s", "end": "2s"},
    "sinusoidal": {"process": "sinusoidal", "mean": "2000/s", "amplitude": "1500/s", "period": "1s"},
    "mmpp": {
        "process": "mmpp",
        "states": [{"rate": "3000/s", "mean_duration": "500ms"}, {"rate": "500/s", "mean_duration": "500ms"}],
    },
}


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_times_are_non_decreasing_across_blocks_and_reproducible(name: str) -> None:
    process = validate(GENERATED[name])
    n = 3 * BLOCK + 7  # the thinned processes discard candidates, so this spans several raw blocks
    first = np.fromiter(islice(process.times(np.random.default_rng(21)), n), float)
    again = np.fromiter(islice(process.times(np.random.default_rng(21)), n), float)
    assert len(first) == n
    assert first[0] >= 0
    assert np.all(np.diff(first) >= 0)
    np.testing.assert_array_equal(first, again)
    if name != "constant":
        other = np.fromiter(islice(process.times(np.random.default_rng(22)), n), float)
        assert not np.array_equal(first, other)


@pytest.mark.parametrize(
    "config",
    [
        {"process": "step", "steps": [{"at": 0, "rate": "100/s"}, {"at": "10s", "rate": 0}]},
        {"process": "ramp", "rate_from": "400/s", "rate_to": 0, "end": "20s"},
        {
            "process": "mmpp",
            "states": [{"rate": 0, "mean_duration": "1s"}, {"rate": 0, "mean_duration": "1s"}],
        },
    ],
    ids=["step-to-zero", "ramp-to-zero", "mmpp-all-zero"],
)
def test_iterator_ends_at_until_when_the_rate_stays_zero(config: dict[str, Any]) -> None:
    # Budget: 400 generator calls is >= 200 blocks of 4096 thinning candidates (> 2000 s of candidate
    # time at these peak rates) or ~200 MMPP sojourns (~200 s), while 100 s needs only a handful of
    # calls; an iterator that honours ``until`` ends well within it.
    times, ended = drain_with_budget(validate(config), seed=30, until=100.0)
    assert ended, f"iterator still running after {len(times)} arrivals, the last at {times[-1:]}"


def test_unknown_process_is_rejected() -> None:
    with pytest.raises(ValidationError, match="burst"):
        validate({"process": "burst", "rate": "5/s"})


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(ValidationError, match="rat"):
        validate({"process": "poisson", "rat": "5/s"})


# --- Trace ----------------------------------------------------------------------------------


def write_trace(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def trace_times(process: Any) -> list[float]:
    return list(process.times(np.random.default_rng(0)))


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    # Unsorted on purpose: the replay must still be increasing. Extra columns are ignored.
    return write_trace(
        tmp_path / "trace.csv",
        "timestamp,path\n1000.0,/a\n1000.5,/b\n1003.0,/c\n1001.25,/d\n",
    )


def test_trace_replays_shifted_to_zero(tmp_path: Path, trace_file: Path) -> None:
    process = validate({"process": "trace", "file": "trace.csv"}, base_dir=tmp_path)
    assert isinstance(process, Trace)
    assert process.file == trace_file
    assert trace_times(process) == pytest.approx([0.0, 0.5, 1.25, 3.0])
    # Replays are repeatable: each call starts from the beginning.
    assert trace_times(process) == pytest.approx([0.0, 0.5, 1.25, 3.0])


@pytest.mark.parametrize(("scale", "expected"), [(2.0, [0.0, 1.0, 2.5, 6.0]), (0.5, [0.0, 0.25, 0.625, 1.5])])
def test_trace_applies_time_scale(
    tmp_path: Path, trace_file: Path, scale: float, expected: list[float]
) -> None:
    process = validate({"process": "trace", "file": "trace.csv", "time_scale": scale}, base_dir=str(tmp_path))
    assert trace_times(process) == pytest.approx(expected)


def test_trace_accepts_an_absolute_path_without_context(trace_file: Path) -> None:
    process = validate({"process": "trace", "file": str(trace_file)})
    assert process.file == trace_file
    assert len(trace_times(process)) == 4


def test_trace_reads_a_named_column(tmp_path: Path) -> None:
    write_trace(tmp_path / "log.csv", "id,arrived_at\n1,5.5\n2,7.0\n3,5.0\n")
    process = validate({"process": "trace", "file": "log.csv", "column": "arrived_at"}, base_dir=tmp_path)
    assert trace_times(process) == pytest.approx([0.0, 0.5, 2.0])


def test_trace_missing_file_names_the_resolved_path(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as excinfo:
        validate({"process": "trace", "file": "missing.csv"}, base_dir=tmp_path)
    text = str(excinfo.value)
    assert str(tmp_path / "missing.csv") in text
    assert "does not exist" in text


def test_trace_missing_column_names_file_and_column(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "other.csv", "ts\n1\n2\n")
    with pytest.raises(ValidationError) as excinfo:
        validate({"process": "trace", "file": "other.csv"}, base_dir=tmp_path)
    text = str(excinfo.value)
    assert str(path) in text
    assert "'timestamp'" in text


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        ("timestamp\n1.0\nsoon\n3.0\n", "soon"),  # non-numeric value
        ("timestamp,path\n1.0,/a\n,/b\n", "could not convert"),  # empty cell
        ("path,timestamp\n/a,1.0\n/b\n", "trace file"),  # short row: the column is missing (None)
    ],
)
def test_trace_non_numeric_rows_name_the_file(tmp_path: Path, content: str, detail: str) -> None:
    path = write_trace(tmp_path / "bad.csv", content)
    with pytest.raises(ValidationError) as excinfo:
        validate({"process": "trace", "file": "bad.csv"}, base_dir=tmp_path)
    text = str(excinfo.value)
    assert str(path) in text
    assert detail in text


def test_trace_without_rows_is_rejected(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "empty.csv", "timestamp\n")
    with pytest.raises(ValidationError, match="no rows") as excinfo:
        validate({"process": "trace", "file": "empty.csv"}, base_dir=tmp_path)
    assert str(path) in str(excinfo.value)


def test_trace_rejects_non_positive_time_scale(tmp_path: Path, trace_file: Path) -> None:
    with pytest.raises(ValidationError, match="greater than 0"):
        validate({"process": "trace", "file": "trace.csv", "time_scale": 0}, base_dir=tmp_path)
