"""Variants side by side: selection, paired differences, stacked frames."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from simulator import scenario_from_dict
from simulator.comparison import run_comparison
from simulator.summary import confidence_interval

SCENARIO: dict[str, Any] = {
    "name": "cmp",
    "duration": "60s",
    "warmup": "5s",
    "seed": 3,
    "replications": 6,
    "services": {"server": {"concurrency": 2, "service_time": {"dist": "exponential", "mean": "30ms"}}},
    "routes": {"main": [{"call": "server"}]},
    "workloads": [{"route": "main", "arrivals": {"process": "poisson", "rate": "50/s"}}],
    "variants": {
        "faster": {"services": {"server": {"service_time": {"mean": "27ms"}}}},
        "wider": {"services": {"server": {"concurrency": 3}}},
    },
}


@pytest.fixture(scope="module")
def comparison() -> Any:
    return run_comparison(scenario_from_dict(SCENARIO))


def test_base_and_every_variant_run_in_order(comparison: Any) -> None:
    assert comparison.names == ["base", "faster", "wider"]
    assert comparison.experiments["wider"].scenario.services["server"].concurrency == 3
    assert list(comparison.summary.index.get_level_values("variant").unique()) == comparison.names


def test_selected_variants_only() -> None:
    only = run_comparison(scenario_from_dict(SCENARIO), ["wider"], replications=1)
    assert only.names == ["wider"]


def test_paired_differences_are_sharper_than_independent_ones(comparison: Any) -> None:
    """Common random numbers: a 10% faster server is detected by the paired difference.

    The paired interval must exclude zero, and be much narrower than the interval an unpaired
    comparison of the two summaries would give (sum of the two half-widths): under half of it.
    """
    paired = comparison.differences("latency_mean").loc["faster"]
    assert paired["high"] < 0
    base = comparison.experiments["base"].per_replication["latency_mean"].to_numpy()
    faster = comparison.experiments["faster"].per_replication["latency_mean"].to_numpy()
    unpaired_half = confidence_interval(base)[1] + confidence_interval(faster)[1]
    assert (paired["high"] - paired["low"]) / 2 < unpaired_half / 2
    np.testing.assert_allclose(paired["mean"], (faster - base).mean())


def test_stacked_frames_carry_the_variant(comparison: Any) -> None:
    requests = comparison.requests
    assert list(dict.fromkeys(requests["variant"])) == comparison.names
    # Same seed, same arrivals: every variant saw the same number of requests.
    counts = requests.groupby(["variant", "replication"]).size().unstack("variant")
    assert (counts.nunique(axis=1) == 1).all()
    assert set(comparison.timeseries["variant"]) == set(comparison.names)
