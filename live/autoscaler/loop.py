"""The live autoscaler's control loop: measure every period, ask the HPA rule, scale the stack.

Every ``period`` seconds (on a fixed grid from the start; a tick missed while a scale-up waited for
new instances to become ready is skipped, not made up) the loop scrapes every instance of the
service, turns the counters into requests per second per replica (:class:`RequestRate`), asks
:class:`patterns.autoscaling.HorizontalPodAutoscaler` for the desired count and, when it differs,
calls :meth:`live.supervisor.Stack.scale` -- which starts instances and waits until ready, or stops
the newest gracefully, and runs the stack's hooks (Prometheus' targets follow). It runs for at most
``duration`` seconds and ``duration / period`` decisions, or until ``stop`` is set.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from live.autoscaler.rate import RequestRate
from live.autoscaler.scrape import scrape_all
from live.supervisor.stack import SCALABLE, Stack, StackError
from patterns.autoscaling import HorizontalPodAutoscaler, ScalingPolicy
from patterns.clock import Clock

__all__ = ["Decision", "autoscale", "request_rate_hpa"]


@dataclass(frozen=True)
class Decision:
    """One period: when (seconds since the start), how many replicas ran, what they served, the answer."""

    at: float
    replicas: int
    per_replica: float  # requests per second per replica over the period just ended
    desired: int


def request_rate_hpa(
    target: float,
    min_replicas: int,
    max_replicas: int,
    *,
    period: float,
    clock: Clock = time.monotonic,
    tolerance: float = 0.1,
    scale_up_window: float = 0.0,
    scale_down_window: float = 30.0,
    max_change: int | None = None,
) -> HorizontalPodAutoscaler:
    """The HPA rule on requests/s per replica; ``max_change``: at most that many replicas per period."""
    policies = (ScalingPolicy("pods", max_change, period),) if max_change is not None else ()
    return HorizontalPodAutoscaler(
        target=target,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        clock=clock,
        tolerance=tolerance,
        scale_up_window=scale_up_window,
        scale_down_window=scale_down_window,
        scale_up=policies,
        scale_down=policies,
    )


def autoscale(
    stack: Stack,
    service: str,
    hpa: HorizontalPodAutoscaler,
    *,
    period: float = 1.0,
    duration: float = 60.0,
    stop: threading.Event | None = None,
    on_decision: Callable[[Decision], None] | None = None,
) -> list[Decision]:
    """Run the loop (see the module docstring); returns every decision taken."""
    if service not in SCALABLE:
        raise StackError(f"cannot autoscale {service!r}: the scalable services are {', '.join(SCALABLE)}")
    if not (period > 0 and math.isfinite(period) and duration > 0 and math.isfinite(duration)):
        raise ValueError(
            f"need period > 0 and duration > 0 seconds, got period={period}, duration={duration}"
        )
    stop = stop or threading.Event()
    rate, clock = RequestRate(), time.monotonic
    start = clock()
    decisions: list[Decision] = []
    tick = 0
    while tick <= duration / period and not stop.is_set():
        instances = stack.state.of(service)
        if not instances:
            raise StackError(
                f"no instance of {service} runs in {stack.state_dir}: `servicelab live up` first"
            )
        now = clock()
        per_replica = rate.observe(scrape_all((r.instance, r.url) for r in instances), now)
        if per_replica is not None:
            desired = hpa.desired(len(instances), per_replica)
            decision = Decision(now - start, len(instances), per_replica, desired)
            decisions.append(decision)
            if on_decision is not None:
                on_decision(decision)
            if desired != len(instances):
                stack.scale(service, desired)
        tick = max(tick + 1, math.ceil((clock() - start) / period))  # skip ticks a slow scale-up overran
        stop.wait(max(0.0, start + tick * period - clock()))
    return decisions
