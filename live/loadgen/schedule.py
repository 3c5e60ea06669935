"""The schedule of a load run, fixed before the first request is sent.

An open-loop generator decides *when* each request goes out before it knows how the system copes:
send times come from an arrival process (the simulator's, :mod:`simulator.arrivals`: Poisson, with
exponential gaps, or constant spacing ``1 / rate``) over ``[0, duration)``, each with an action drawn
from the mix. A slow answer therefore never delays later sends -- the coordinated omission a
closed-loop client suffers, where the requests that would have met a slow system are simply never
sent, and their latencies never measured.

The observation period (``horizon``) is the duration, or, when ``max_requests`` cut the schedule
short, the time the first request left out would have been sent: the window ``[0, horizon)`` holds
exactly the planned requests, and ``requests / horizon`` estimates the rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import islice
from typing import Literal

import numpy as np

from live.loadgen.mix import draw_actions
from simulator.arrivals import Constant, Poisson
from simulator.units import parse_duration, parse_rate

__all__ = ["MAX_PLANNED", "PROCESSES", "Plan", "plan_load"]

PROCESSES = ("poisson", "constant")
MAX_PLANNED = 5_000_000
"""The most requests one schedule may plan (its send times and actions are held in memory)."""
Process = Literal["poisson", "constant"]


@dataclass(frozen=True)
class Plan:
    """Send times (seconds from the start, increasing) and the action of each request."""

    times: np.ndarray
    actions: tuple[str, ...]
    horizon: float
    rate: float
    process: Process

    def __len__(self) -> int:
        return len(self.times)


def plan_load(
    rate: float | str,
    duration: float | str,
    mix: dict[str, float],
    *,
    process: Process = "poisson",
    seed: int = 0,
    max_requests: int | None = None,
) -> Plan:
    """The schedule of a run at ``rate`` (``"200/s"`` or requests per second) for ``duration``
    (``"30s"`` or seconds), actions drawn from ``mix`` (probabilities, see
    :func:`~live.loadgen.mix.parse_mix`); the same ``seed`` gives the same schedule."""
    per_second, seconds = parse_rate(rate), parse_duration(duration)
    if not 0 < per_second < math.inf:
        raise ValueError(f"the rate must be a positive number of requests per second, got {rate!r}")
    if not 0 < seconds < math.inf:
        raise ValueError(f"the duration must be a positive time, got {duration!r}")
    if max_requests is not None and max_requests < 1:
        raise ValueError(f"max_requests must be at least 1, got {max_requests}")
    expected = min(per_second * seconds, max_requests or math.inf)
    if expected > MAX_PLANNED:
        raise ValueError(
            f"{rate!r} for {duration!r} plans about {expected:,.0f} requests; "
            f"at most {MAX_PLANNED:,} fit in one run (lower the rate or the duration, or set max_requests)"
        )
    if process not in PROCESSES:
        raise ValueError(f"unknown arrival process {process!r}; choose one of {', '.join(PROCESSES)}")
    times_rng, mix_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    arrivals = (Poisson if process == "poisson" else Constant)(process=process, rate=per_second)
    limit = None if max_requests is None else max_requests + 1  # one more tells where the window ends
    times = np.fromiter(islice(arrivals.times(times_rng, seconds), limit), dtype=float)
    horizon = seconds
    if max_requests is not None and len(times) > max_requests:
        horizon, times = float(times[max_requests]), times[:max_requests]
    if not len(times):
        raise ValueError(
            f"no request falls due at {rate!r} within {duration!r}; raise the rate or the duration"
        )
    actions = tuple(draw_actions(mix, len(times), mix_rng))
    return Plan(times=times, actions=actions, horizon=horizon, rate=per_second, process=process)
