"""Rollout decisions: a rolling update's invariants and progress, the canary plan and its analysis."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patterns.deployment import CanaryAnalysis, CanaryPlan, CanaryStep, Verdict, VersionStats, rolling_step


def _rollout(
    desired: int, surge: int, unavailable: int, ready_order: list[int]
) -> list[tuple[int, int, int]]:
    """Play a rolling update to the end: each round applies one step, then some starting replicas
    become ready (``ready_order`` says how many, cycling). Returns (old, new_ready, new_starting)."""
    old, ready, starting = desired, 0, 0
    history = [(old, ready, starting)]
    for round_ in range(10 * desired + 10):
        start, drain = rolling_step(desired, surge, unavailable, old, ready, starting)
        old, starting = old - drain, starting + start
        history.append((old, ready, starting))
        woken = min(starting, ready_order[round_ % len(ready_order)])
        ready, starting = ready + woken, starting - woken
        history.append((old, ready, starting))
        if old == 0 and ready == desired:
            return history
    raise AssertionError(f"rollout did not finish: {history[-3:]}")


@settings(max_examples=300, deadline=None)
@given(
    desired=st.integers(1, 20),
    surge=st.integers(0, 5),
    unavailable=st.integers(0, 5),
    ready_order=st.lists(st.integers(0, 3), min_size=1, max_size=5).filter(any),
)
def test_a_rolling_update_keeps_its_bounds_and_finishes(
    desired: int, surge: int, unavailable: int, ready_order: list[int]
) -> None:
    if surge == 0 and unavailable == 0:
        with pytest.raises(ValueError, match="cannot both be 0"):
            rolling_step(desired, surge, unavailable, desired, 0, 0)
        return
    for old, ready, starting in _rollout(desired, surge, unavailable, ready_order):
        assert old + ready + starting <= desired + surge
        assert old + ready >= desired - unavailable
        assert ready + starting <= desired


def test_a_rolling_update_with_one_surge_replaces_one_replica_at_a_time() -> None:
    assert rolling_step(3, 1, 0, old=3, new_ready=0, new_starting=0) == (1, 0)
    assert rolling_step(3, 1, 0, old=3, new_ready=0, new_starting=1) == (0, 0)  # wait: not ready yet
    assert rolling_step(3, 1, 0, old=3, new_ready=1, new_starting=0) == (0, 1)
    assert rolling_step(3, 1, 0, old=2, new_ready=1, new_starting=0) == (1, 0)
    assert rolling_step(3, 1, 0, old=0, new_ready=3, new_starting=0) == (0, 0)  # done


def test_a_rolling_update_without_surge_drains_first() -> None:
    assert rolling_step(4, 0, 2, old=4, new_ready=0, new_starting=0) == (0, 2)
    assert rolling_step(4, 0, 2, old=2, new_ready=0, new_starting=0) == (2, 0)


def test_the_canary_plan_must_grow_to_full_traffic() -> None:
    CanaryPlan((CanaryStep(0.1, 60), CanaryStep(0.5, 60), CanaryStep(1.0, 60)))
    with pytest.raises(ValueError, match="must not decrease"):
        CanaryPlan((CanaryStep(0.5, 60), CanaryStep(0.1, 60), CanaryStep(1.0, 60)))
    with pytest.raises(ValueError, match="weight 1"):
        CanaryPlan((CanaryStep(0.1, 60),))
    with pytest.raises(ValueError, match="weight"):
        CanaryStep(0.0, 60)


def test_the_analysis_waits_for_enough_calls_then_promotes_a_good_canary() -> None:
    analysis = CanaryAnalysis(min_calls=100)
    baseline = VersionStats(1000, 10, 0.050)
    assert analysis.judge(baseline, VersionStats(99, 0, 0.050)) is Verdict.CONTINUE
    assert analysis.judge(baseline, VersionStats(200, 3, 0.055)) is Verdict.PROMOTE


def test_the_analysis_rolls_back_significantly_more_errors_or_slower_answers() -> None:
    analysis = CanaryAnalysis(min_calls=100, max_error_increase=0.01, confidence=0.99, max_latency_ratio=1.5)
    baseline = VersionStats(2000, 20, 0.050)  # 1% errors
    assert analysis.judge(baseline, VersionStats(500, 50, 0.050)) is Verdict.ROLLBACK  # 10%: z ~ 10
    # 3% on 100 calls is 2 points above, but only z ~ 1.9: noise at 99% confidence
    assert analysis.judge(baseline, VersionStats(100, 3, 0.050)) is Verdict.PROMOTE
    # 1.5% on many calls: significant, but within the allowed increase
    assert (
        analysis.judge(VersionStats(100_000, 1000, 0.05), VersionStats(100_000, 1500, 0.05))
        is Verdict.PROMOTE
    )
    assert analysis.judge(baseline, VersionStats(500, 5, 0.080)) is Verdict.ROLLBACK  # 1.6x slower


@given(
    calls=st.integers(100, 10_000),
    rate=st.floats(0, 0.5),
)
def test_a_canary_just_like_its_baseline_is_never_rolled_back(calls: int, rate: float) -> None:
    errors = round(calls * rate)
    stats = VersionStats(calls, errors, 0.05)
    assert CanaryAnalysis(min_calls=100).judge(stats, stats) is Verdict.PROMOTE
