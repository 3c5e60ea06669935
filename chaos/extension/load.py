"""A load run of the shop through the gateway for an activity, its requests kept on the timeline.

The load generator signs a fresh user up before its clock starts. Under an experiment's faults that
sign-up may fail -- a POST without an Idempotency-Key is not retried by the gateway -- and that says
nothing about the browsing and ordering the run is meant to measure, so the setup is tried again (as
another fresh user) up to :data:`SETUP_ATTEMPTS` times before the activity fails.
"""

from __future__ import annotations

import time

from chaos.extension.stack import Configuration, ExperimentError, state_dir, state_of
from chaos.extension.timeline import append_requests
from live.loadgen import LoadResult, SetupError, load_shop

__all__ = ["SETUP_ATTEMPTS", "shop_load"]

SETUP_ATTEMPTS = 5


def shop_load(
    activity: str, rate: float, duration: float, mix: str, seed: int, configuration: Configuration
) -> LoadResult:
    """Run the shop's load (:func:`live.loadgen.load_shop`) and record it under ``activity``."""
    state = state_of(configuration)
    gateway = state.url("gateway")
    if gateway is None:
        raise ExperimentError(f"the stack in {state.state_dir} has no gateway")
    for attempt in range(1, SETUP_ATTEMPTS + 1):
        try:
            result = load_shop(gateway, rate=rate, duration=duration, mix=mix, seed=seed)
            break
        except SetupError:
            if attempt == SETUP_ATTEMPTS:
                raise
            time.sleep(0.2 * attempt)
    append_requests(state_dir(configuration), result, activity)
    return result
