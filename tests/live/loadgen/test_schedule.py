"""The schedule: fixed in advance, from the simulator's arrival processes, bounded."""

from __future__ import annotations

import math

import numpy as np
import pytest

from live.loadgen.schedule import MAX_PLANNED, plan_load

ONE = {"get": 1.0}


def test_constant_spacing_uses_the_simulators_units() -> None:
    plan = plan_load("4/s", "1s", ONE, process="constant")
    assert plan.times.tolist() == pytest.approx([0.25, 0.5, 0.75])
    assert plan.rate == 4.0
    assert plan.horizon == 1.0
    assert plan_load("240/min", "1000ms", ONE, process="constant").times.tolist() == pytest.approx(
        plan.times.tolist()
    )


def test_poisson_count_and_gaps_match_the_rate() -> None:
    rate, duration = 1000.0, 10.0
    plan = plan_load(rate, duration, ONE, seed=3)
    # Poisson(rate x duration): mean 10,000, standard deviation 100.
    assert abs(len(plan) - rate * duration) < 4 * math.sqrt(rate * duration)
    assert np.all(np.diff(plan.times) > 0)
    assert plan.times[0] >= 0
    assert plan.times[-1] < duration
    gaps = np.diff(plan.times)
    # Exponential gaps: mean 1/rate, the mean of n of them has standard deviation (1/rate)/sqrt(n).
    assert abs(gaps.mean() - 1 / rate) < 4 / rate / math.sqrt(len(gaps))


def test_same_seed_same_plan_other_seed_other_plan() -> None:
    mix = {"browse": 0.7, "order": 0.3}
    a, b, c = (plan_load("50/s", "2s", mix, seed=s) for s in (5, 5, 6))
    assert a.times.tolist() == b.times.tolist()
    assert a.actions == b.actions
    assert a.times.tolist() != c.times.tolist()


def test_max_requests_cuts_the_schedule_and_ends_the_window_at_the_next_send() -> None:
    full = plan_load("100/s", "5s", ONE, seed=2)
    cut = plan_load("100/s", "5s", ONE, seed=2, max_requests=50)
    assert len(cut) == 50
    assert cut.times.tolist() == full.times[:50].tolist()
    assert cut.horizon == full.times[50]
    assert plan_load("100/s", "5s", ONE, seed=2, max_requests=10_000).horizon == 5.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": "0/s"}, "rate must be a positive"),
        ({"rate": "fast"}, "cannot read 'fast' as a rate"),
        ({"rate": math.inf}, "rate must be a positive"),
        ({"duration": "-1s"}, "duration must be a positive"),
        ({"duration": "soon"}, "cannot read 'soon' as a duration"),
        ({"max_requests": 0}, "max_requests must be at least 1"),
        ({"process": "uniform"}, "unknown arrival process 'uniform'"),
        ({"rate": "1000000/s", "duration": "1h"}, f"at most {MAX_PLANNED:,}"),
    ],
)
def test_bad_plans_are_refused_with_a_reason(kwargs: dict, message: str) -> None:
    arguments = {"rate": "10/s", "duration": "1s", **kwargs}
    with pytest.raises(ValueError, match=message):
        plan_load(arguments.pop("rate"), arguments.pop("duration"), ONE, **arguments)


def test_a_big_rate_is_fine_when_max_requests_bounds_it() -> None:
    assert len(plan_load("1000000/s", "1h", ONE, max_requests=100)) == 100


def test_an_empty_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="no request falls due at '1/min' within '1s'"):
        plan_load("1/min", "1s", ONE, process="constant")
