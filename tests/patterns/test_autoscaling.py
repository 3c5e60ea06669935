"""Autoscaling rules: the HPA's formula, tolerance, bounds and windows; the other rules' promises."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patterns.autoscaling import (
    HorizontalPodAutoscaler,
    QueueLengthScaler,
    ScalingPolicy,
    ScheduledScaling,
    ScheduleEntry,
    Step,
    StepScaling,
    TargetTracking,
    VerticalScaler,
    proportional,
)
from patterns.clock import ManualClock


def hpa(clock: ManualClock, **options: object) -> HorizontalPodAutoscaler:
    settings: dict[str, object] = {"target": 0.5, "min_replicas": 1, "max_replicas": 50, "clock": clock}
    settings.update(options)
    return HorizontalPodAutoscaler(**settings)  # type: ignore[arg-type]


def test_proportional_rule_is_kubernetes_formula() -> None:
    clock = ManualClock()
    scaler = hpa(clock, scale_down_window=0)
    assert scaler.desired(4, 0.9) == math.ceil(4 * 0.9 / 0.5) == 8
    clock.advance(15)
    assert scaler.desired(8, 0.2) == math.ceil(8 * 0.2 / 0.5) == 4
    assert proportional(3, 0.6, 0.6) == 3  # float noise does not add a replica


@given(
    current=st.integers(0, 60),
    metrics=st.lists(st.floats(0, 20, allow_nan=False), min_size=1, max_size=30),
    low=st.integers(0, 10),
    span=st.integers(0, 20),
)
def test_hpa_never_leaves_its_bounds(current: int, metrics: list[float], low: int, span: int) -> None:
    clock = ManualClock()
    scaler = hpa(clock, min_replicas=low, max_replicas=low + span, scale_down_window=30)
    for metric in metrics:
        current = scaler.desired(current, metric)
        assert low <= current <= low + span
        clock.advance(15)


@given(current=st.integers(1, 100), where=st.floats(-0.999, 0.999), tolerance=st.floats(0, 0.5))
def test_within_tolerance_nothing_changes(current: int, where: float, tolerance: float) -> None:
    scaler = hpa(ManualClock(), max_replicas=100, tolerance=tolerance)
    assert scaler.desired(current, 0.5 * (1 + where * tolerance)) == current


@given(
    start=st.integers(2, 40),
    low_metrics=st.lists(st.floats(0, 0.4), min_size=1, max_size=19),
)
def test_no_scale_down_before_the_window_has_passed(start: int, low_metrics: list[float]) -> None:
    """After a recommendation of ``start`` replicas, any load for less than 300 s keeps ``start``."""
    clock = ManualClock()
    scaler = hpa(clock, max_replicas=100, scale_down_window=300)
    assert scaler.desired(start, 0.5) == start
    for metric in low_metrics:  # at most 19 x 15 s = 285 s later
        clock.advance(15)
        assert scaler.desired(start, metric) == start


def test_scale_down_after_the_window_goes_to_the_highest_recent_recommendation() -> None:
    clock = ManualClock()
    scaler = hpa(clock, scale_down_window=60)
    assert scaler.desired(10, 0.5) == 10
    clock.advance(30)
    assert scaler.desired(10, 0.3) == 10  # raw 6, but 10 was recommended 30 s ago
    clock.advance(31)
    assert scaler.desired(10, 0.2) == 6  # 10 has left the window; 6 (30 s ago) is the highest left
    clock.advance(31)
    assert scaler.desired(6, 0.5 * 4 / 6) == 4


def test_scale_up_window_takes_the_lowest_recent_recommendation() -> None:
    clock = ManualClock()
    scaler = hpa(clock, scale_up_window=60)
    assert scaler.desired(4, 0.5) == 4
    clock.advance(15)
    assert scaler.desired(4, 1.5) == 4  # a spike: the window still holds 4
    clock.advance(50)
    assert scaler.desired(4, 1.5) == 12


def test_scaling_policy_limits_pods_per_period() -> None:
    clock = ManualClock()
    scaler = hpa(clock, scale_up=(ScalingPolicy("pods", 4, 60),))
    assert scaler.desired(2, 5.0) == 6  # raw 20, at most 4 more per minute
    clock.advance(15)
    assert scaler.desired(6, 5.0 / 3) == 6  # still inside the minute: 4 already added
    clock.advance(46)
    assert scaler.desired(6, 5.0 / 3) == 10


def test_percent_policy_and_select_min() -> None:
    clock = ManualClock()
    policies = (ScalingPolicy("percent", 100, 15), ScalingPolicy("pods", 2, 15))
    assert hpa(clock, scale_up=policies).desired(4, 5.0) == 8  # max: doubling beats +2
    assert hpa(clock, scale_up=policies, select="min").desired(4, 5.0) == 6


@given(metrics=st.lists(st.floats(0, 10), min_size=1, max_size=40), cooldown=st.integers(0, 120))
def test_target_tracking_scales_in_only_after_its_cooldown(metrics: list[float], cooldown: int) -> None:
    clock = ManualClock()
    scaler = TargetTracking(0.5, 1, 40, clock, scale_in_cooldown=cooldown)
    current, last_change = 5, -math.inf
    for metric in metrics:
        wanted = scaler.desired(current, metric)
        assert 1 <= wanted <= 40
        if wanted < current:
            assert clock.now - last_change >= cooldown
        if wanted != current:
            last_change = clock.now
        current = wanted
        clock.advance(10)


def test_target_tracking_scales_out_at_once() -> None:
    clock = ManualClock()
    scaler = TargetTracking(0.5, 1, 40, clock)
    assert scaler.desired(4, 1.0) == 8
    clock.advance(1)
    assert scaler.desired(8, 0.25) == 8  # scale-in waits out its 300 s cooldown
    clock.advance(300)
    assert scaler.desired(8, 0.25) == 4


def test_step_scaling_follows_its_steps_and_cooldown() -> None:
    clock = ManualClock()
    steps = (Step(None, 0.3, -1), Step(0.7, 0.9, 2), Step(0.9, None, 4))
    scaler = StepScaling(steps, 1, 20, clock, cooldown=60)
    assert scaler.desired(5, 0.5) == 5  # no step
    assert scaler.desired(5, 0.8) == 7
    clock.advance(30)
    assert scaler.desired(7, 0.95) == 7  # cooling down
    clock.advance(30)
    assert scaler.desired(7, 0.95) == 11
    clock.advance(60)
    assert scaler.desired(11, 0.1) == 10
    assert StepScaling((Step(0.9, None, 100),), 1, 20, clock, kind="percent").desired(10, 0.95) == 20
    assert StepScaling((Step(0.9, None, 4),), 1, 20, clock, kind="percent").desired(10, 0.95) == 11
    assert StepScaling((Step(0.5, None, 7),), 1, 20, clock, kind="exact").desired(3, 0.6) == 7


def test_overlapping_steps_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        StepScaling((Step(0, 0.5, 1), Step(0.4, None, 2)), 1, 5, ManualClock())


@given(backlog=st.floats(0.01, 5000), target=st.floats(1, 100))
def test_queue_scaler_from_zero_is_backlog_over_target(backlog: float, target: float) -> None:
    scaler = QueueLengthScaler(target, 0, 10_000, ManualClock())
    assert scaler.desired(0, backlog) == max(1, math.ceil(backlog / target - 1e-9))


def test_queue_scaler_is_keda() -> None:
    clock = ManualClock()
    scaler = QueueLengthScaler(10, 0, 50, clock, activation=5, cooldown=120, scale_down_window=0)
    assert scaler.desired(0, 3) == 0  # below activation: stay asleep
    assert scaler.desired(0, 95) == 10
    clock.advance(15)
    assert scaler.desired(10, 200) == 20
    clock.advance(15)
    assert scaler.desired(20, 4) == 1  # inactive: the HPA keeps ceil(4 / 10) = 1 ...
    clock.advance(100)
    assert scaler.desired(1, 0) == 1
    clock.advance(21)
    assert scaler.desired(1, 0) == 0  # ... until 120 s without activity: then none


@given(now=st.floats(0, 10 * 86400))
def test_schedule_applies_the_last_entry_that_has_passed(now: float) -> None:
    clock = ManualClock(now)
    entries = (ScheduleEntry(8 * 3600, 10, 20), ScheduleEntry(20 * 3600, 2, 4))
    schedule = ScheduledScaling(entries, (2, 4), clock, period=86400)
    hour = (now % 86400) / 3600
    expected = (10, 20) if 8 <= hour < 20 else (2, 4)
    assert schedule.bounds() == expected
    assert expected[0] <= schedule.desired(7, 0.0) <= expected[1]


def test_schedule_clamps_an_inner_rule() -> None:
    clock = ManualClock()
    inner = hpa(clock, scale_down_window=0)
    schedule = ScheduledScaling((ScheduleEntry(100, 6, 8),), (1, 50), clock, inner=inner)
    assert schedule.desired(4, 1.0) == 8
    clock.advance(100)
    assert schedule.desired(4, 0.1) == 6


def test_vertical_scaler_sizes_replicas_with_a_cooldown() -> None:
    clock = ManualClock()
    scaler = VerticalScaler(0.5, 1, 16, clock, cooldown=120)
    assert scaler.desired(4, 0.52) == 4  # inside the tolerance band
    assert scaler.desired(4, 0.9) == 8
    clock.advance(60)
    assert scaler.desired(8, 0.9) == 8
    clock.advance(60)
    assert scaler.desired(8, 0.9) == 15
    clock.advance(120)
    assert scaler.desired(15, 2.0) == 16


@pytest.mark.parametrize(
    "make",
    [
        lambda c: HorizontalPodAutoscaler(0, 1, 2, c),
        lambda c: HorizontalPodAutoscaler(0.5, 3, 2, c),
        lambda c: TargetTracking(0.5, -1, 2, c),
        lambda c: ScalingPolicy("nodes", 1, 1),  # type: ignore[arg-type]
        lambda c: ScheduledScaling((ScheduleEntry(90, 1, 2),), (1, 2), c, period=60),
        lambda c: VerticalScaler(0.5, 0, 2, c),
    ],
)
def test_invalid_settings_fail_at_construction(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=r"must|need|kind|outside"):
        make(ManualClock())
