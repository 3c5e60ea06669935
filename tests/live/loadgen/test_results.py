"""The live summary is the simulator's: the same metric names, computed the same way."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pandas as pd
import pytest

from live.loadgen.outcomes import DROPPED, LIVE_OUTCOMES
from live.loadgen.results import COLUMNS, LoadResult, generator_metrics, load_metrics, load_summary
from simulator import scenario_from_dict, simulate
from simulator.summary import replication_metrics, summarize

NAN = math.nan


def _result(rows: list[tuple[float, float, float, int, str]], horizon: float) -> LoadResult:
    """Rows of (scheduled, sent, latency, status, outcome)."""
    scheduled, sent, latency, status, outcome = zip(*rows, strict=True)
    frame = pd.DataFrame(
        {
            "request": np.arange(len(rows)),
            "action": pd.Categorical(["get"] * len(rows)),
            "scheduled": scheduled,
            "sent": sent,
            "latency": latency,
            "status": status,
            "outcome": pd.Categorical(outcome, categories=LIVE_OUTCOMES),
            "error": [""] * len(rows),
            "trace_id": [""] * len(rows),
        }
    )
    return LoadResult(frame, horizon)


ROWS = [
    (0.1, 0.1, 0.010, 200, "ok"),
    (0.3, 0.3, 0.020, 200, "ok"),
    (0.5, 0.5, 0.030, 201, "ok"),
    (0.7, 0.8, 0.140, 200, "ok"),
    (0.9, 0.9, 0.050, 200, "ok"),
    (1.1, 1.1, 0.060, 200, "ok"),
    (1.3, 1.3, 0.005, 429, "limited"),
    (1.5, 1.5, 0.005, 429, "limited"),
    (1.7, 1.7, 0.500, 0, "timeout"),
    (1.9, NAN, NAN, 0, DROPPED),
]


def test_metrics_of_a_known_run() -> None:
    metrics = load_metrics(_result(ROWS, horizon=2.0))
    answered = np.array([0.010, 0.020, 0.030, 0.140, 0.050, 0.060])
    assert metrics["requests"] == 10
    assert metrics["throughput"] == pytest.approx(6 / 2.0)
    assert metrics["error_rate"] == pytest.approx(0.4)
    assert metrics["limited"] == pytest.approx(0.2)
    assert metrics["timeout"] == pytest.approx(0.1)
    assert metrics["rejected"] == 0.0
    assert metrics["latency_mean"] == pytest.approx(answered.mean())
    assert metrics["latency_p50"] == pytest.approx(np.percentile(answered, 50))
    assert metrics["latency_p99"] == pytest.approx(np.percentile(answered, 99))


def test_the_warmup_leaves_out_early_requests_and_shortens_the_window() -> None:
    metrics = load_metrics(_result(ROWS, horizon=2.0), warmup=1.0)
    assert metrics["requests"] == 5
    assert metrics["throughput"] == pytest.approx(1 / 1.0)
    assert metrics["latency_mean"] == pytest.approx(0.060)
    with pytest.raises(ValueError, match="warm-up"):
        load_metrics(_result(ROWS, horizon=2.0), warmup=2.0)


def test_generator_metrics_report_drops_and_lag() -> None:
    metrics = generator_metrics(_result(ROWS, horizon=2.0))
    assert metrics["dropped"] == pytest.approx(0.1)
    assert metrics["lag_max"] == pytest.approx(0.1)
    assert metrics["lag_mean"] == pytest.approx(0.1 / 9)


@cache
def _simulated_metrics() -> dict[str, float]:
    scenario = scenario_from_dict(
        {
            "name": "one server",
            "duration": "5s",
            "services": {"server": {"service_time": {"dist": "exponential", "mean": "10ms"}}},
            "routes": {"main": [{"call": "server"}]},
            "workloads": [{"route": "main", "arrivals": {"process": "poisson", "rate": "50/s"}}],
        }
    )
    return replication_metrics(simulate(scenario))


def test_live_metric_names_are_the_simulators_request_metrics_in_its_order() -> None:
    simulated = [name for name in _simulated_metrics() if "." not in name and name != "cost"]
    assert list(load_metrics(_result(ROWS, horizon=2.0))) == simulated


def test_the_summary_table_has_the_simulators_shape() -> None:
    live = load_summary(_result(ROWS, horizon=2.0))
    simulated = summarize(pd.DataFrame([_simulated_metrics()] * 2))
    assert list(live.columns) == list(simulated.columns)
    assert set(live.index) <= set(simulated.index)
    assert live.loc["throughput", "mean"] == pytest.approx(3.0)
    assert (live["n"] == 1).all()
    assert live["low"].isna().all()


def test_csv_has_one_row_per_request_and_the_documented_columns(tmp_path) -> None:
    path = _result(ROWS, horizon=2.0).to_csv(tmp_path / "requests.csv")
    back = pd.read_csv(path)
    assert tuple(back.columns) == COLUMNS
    assert len(back) == len(ROWS)
    assert back["outcome"].tolist() == [row[4] for row in ROWS]
