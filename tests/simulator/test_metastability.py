"""The metastable failure of the bundled ``resilience`` scenario, and the four ways out of it.

Bronson et al. (HotOS'21) and Huang et al. (OSDI'22): a system that is stable under its load can be
pushed by a short trigger into a state that sustains itself after the trigger is gone. Here the api
runs at 70% of its capacity; a 30 s latency spike makes every try time out; clients retry at once
(up to 10 tries), the api serves tries nobody waits for any more, and the retried load -- up to 10x --
keeps it overloaded long after the spike. The checks use windows well clear of the transitions: the
steady state before the trigger, and the last 100 s of the run (110 s after the spike ended, twice the
time the api needs to drain the spike's backlog without retries: (140 - 10/0.35) x 30 s / 60 per s).
"""

from __future__ import annotations

import pytest

from simulator.engine import simulate
from simulator.loader import apply_variant
from simulator.records import RunResult
from tests.simulator.bundled import SCENARIOS, bundled

pytestmark = pytest.mark.slow

BEFORE, AFTER = (20.0, 60.0), (200.0, 300.0)
MAX_ATTEMPTS = 10


def _run(variant: str | None = None) -> RunResult:
    scenario = bundled("resilience")
    if variant is not None:
        scenario = apply_variant(scenario, variant, SCENARIOS)
    return simulate(scenario, replication=0)


def _goodput(result: RunResult, window: tuple[float, float]) -> float:
    """Share of the requests arriving in ``window`` that got an answer."""
    requests = result.requests
    inside = requests[(requests["arrival"] >= window[0]) & (requests["arrival"] < window[1])]
    return float((inside["status"] == "ok").mean())


def _amplification(result: RunResult, window: tuple[float, float]) -> float:
    """Calls the api received per request, for the requests sent in ``window``: the work amplification."""
    requests = result.requests
    sent = requests[(requests["arrival"] >= window[0]) & (requests["arrival"] < window[1])]["request"]
    return float(result.spans["request"].isin(sent).sum() / len(sent))


@pytest.fixture(scope="module")
def storm() -> RunResult:
    return _run()


def test_uncapped_retries_keep_the_api_down_long_after_the_trigger(storm: RunResult) -> None:
    assert _goodput(storm, BEFORE) > 0.99  # stable under its load, retries and all
    assert _goodput(storm, AFTER) < 0.01  # ... and still down 110 s after a 30 s spike
    # the retries multiply the load by up to the number of tries, never more (OSDI'22: capped retries
    # amplify at most (1 + max retries) x); here nearly every try times out, so close to that cap
    amplification = _amplification(storm, AFTER)
    assert 0.8 * MAX_ATTEMPTS < amplification <= MAX_ATTEMPTS
    assert _amplification(storm, BEFORE) < 1.05
    assert storm.tries.groupby("request").size().max() == MAX_ATTEMPTS


@pytest.mark.parametrize("variant", ["no-retries", "retry-budget", "breaker", "shedding"])
def test_each_pattern_restores_the_api(variant: str) -> None:
    result = _run(variant)
    assert _goodput(result, BEFORE) > 0.99
    assert _goodput(result, AFTER) > 0.99
    assert _amplification(result, AFTER) < 1.15  # at most the budget's 10% of retries, and a little noise
