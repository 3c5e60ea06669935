"""Time series from records: exact time averages of step functions, rates per bin."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator import scenario_from_dict, simulate
from simulator.timeseries import REQUEST_SCOPE, bin_edges, level_average, timeseries


def test_bin_edges_cover_the_horizon_with_a_short_last_bin() -> None:
    np.testing.assert_allclose(bin_edges(10.0, 3.0), [0, 3, 6, 9, 10])


def test_level_average_by_hand() -> None:
    # [0, 2) and [1, 3): level 1 on [0,1), 2 on [1,2), 1 on [2,3).
    averages = level_average(np.array([0.0, 1.0]), np.array([2.0, 3.0]), np.array([0.0, 1.0, 2.0, 4.0]))
    np.testing.assert_allclose(averages, [1.0, 2.0, 0.5])


def test_level_average_of_nothing_is_zero() -> None:
    np.testing.assert_array_equal(level_average(np.array([]), np.array([]), np.array([0.0, 1.0])), [0.0])


@given(
    st.lists(st.tuples(st.floats(0, 100), st.floats(0, 50)), min_size=1, max_size=60),
    st.floats(0.5, 30),
)
def test_level_average_integrates_to_the_total_interval_length(intervals: list, width: float) -> None:
    """Sum over bins of (average x width) is the total time covered, when the bins span every interval."""
    starts = np.array([s for s, _ in intervals])
    ends = starts + np.array([d for _, d in intervals])
    edges = bin_edges(float(ends.max()) + 1.0, width)
    area = level_average(starts, ends, edges) @ np.diff(edges)
    assert area == pytest.approx(float((ends - starts).sum()), rel=1e-9, abs=1e-9)


def test_series_of_a_run_agree_with_its_records() -> None:
    result = simulate(
        scenario_from_dict(
            {
                "name": "ts",
                "duration": "100s",
                "sample_interval": "10s",
                "services": {
                    "server": {"concurrency": 2, "service_time": {"dist": "exponential", "mean": "20ms"}}
                },
                "routes": {"main": [{"call": "server"}]},
                "workloads": [{"route": "main", "arrivals": {"process": "poisson", "rate": "40/s"}}],
            }
        )
    )
    series = timeseries(result)
    server = series[series["scope"] == "server"]
    requests = series[series["scope"] == REQUEST_SCOPE]
    assert len(server) == len(requests) == 10
    assert server["arrivals_per_s"].sum() * 10 == pytest.approx(result.n_requests)
    spans = result.spans
    busy = (spans["end"].clip(upper=100) - spans["start"]).sum()
    assert server["utilization"].mean() * 2 * 100 == pytest.approx(busy, rel=1e-9)
    assert (requests["latency_p50"] <= requests["latency_p90"]).all()
    assert (requests["latency_p90"] <= requests["latency_p99"]).all()
