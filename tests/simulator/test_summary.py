"""Summary statistics: windowing, metric definitions and confidence intervals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from simulator import scenario_from_dict, simulate
from simulator.summary import confidence_interval, replication_metrics, summarize


def test_confidence_interval_matches_scipy_student_t() -> None:
    values = np.array([1.0, 2.5, 2.0, 3.5, 1.5])
    mean, half = confidence_interval(values, 0.95)
    low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    assert mean == pytest.approx(values.mean())
    assert half == pytest.approx((high - low) / 2)


def test_one_replication_has_no_interval_and_nan_values_are_ignored() -> None:
    assert math.isnan(confidence_interval(np.array([3.0]))[1])
    assert confidence_interval(np.array([1.0, np.nan, 3.0]))[0] == pytest.approx(2.0)


def test_summarize_rows_bracket_the_mean() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [5.0, 5.0, 5.0]})
    table = summarize(frame)
    assert table.loc["a", "mean"] == pytest.approx(2.0)
    assert table.loc["a", "low"] < 2.0 < table.loc["a", "high"]
    assert table.loc["b", "low"] == table.loc["b", "high"] == pytest.approx(5.0)
    assert (table["n"] == 3).all()


def test_metrics_leave_out_the_warmup_and_count_rejections_as_errors() -> None:
    scenario = scenario_from_dict(
        {
            "name": "window",
            "duration": "60s",
            "warmup": "10s",
            "services": {
                "server": {"queue_capacity": 0, "service_time": {"dist": "deterministic", "value": "50ms"}}
            },
            "routes": {"main": [{"call": "server"}]},
            "workloads": [{"route": "main", "arrivals": {"process": "poisson", "rate": "20/s"}}],
        }
    )
    result = simulate(scenario)
    metrics = replication_metrics(result)
    requests = result.requests
    inside = requests[requests["arrival"] >= 10]
    assert metrics["requests"] == len(inside)
    assert metrics["error_rate"] == pytest.approx((inside["status"] == "rejected").mean())
    assert set(inside["status"]) == {"ok", "rejected"}
    assert metrics["server.rejected"] == pytest.approx(metrics["error_rate"])
    # M/D/1/1 (Erlang loss, 1 server): P(block) = a / (1 + a) with a = 20/s x 50ms = 1.
    assert 0.4 < metrics["error_rate"] < 0.6
    ok = inside[inside["status"] == "ok"]["latency"]
    assert metrics["latency_p99"] == pytest.approx(0.05)
    assert metrics["throughput"] == pytest.approx(len(ok) / 50)
