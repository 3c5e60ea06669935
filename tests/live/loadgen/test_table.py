"""The summary table (the simulator's rows and units) and the generator's note."""

from __future__ import annotations

import io

import pandas as pd
from rich.console import Console

from live.loadgen.table import generator_note, summary_table
from simulator.summary import summarize


def _text(renderable: object) -> str:
    out = io.StringIO()
    Console(file=out, width=160, color_system=None).print(renderable)
    return out.getvalue()


ZERO = dict.fromkeys(
    ("throughput", "error_rate", "latency_mean", "latency_p50", "latency_p90", "latency_p99", "latency_p999"),
    0.0,
) | {"limited": 0.0, "timeout": 0.0}


def test_live_and_simulated_side_by_side_in_the_simulators_units() -> None:
    live = summarize(pd.DataFrame([ZERO | {"throughput": 198.0, "latency_p99": 0.0123, "limited": 0.05}]))
    simulated = summarize(pd.DataFrame([ZERO | {"throughput": 199.0}, ZERO | {"throughput": 201.0}]))
    text = _text(summary_table({"live": live, "simulated": simulated}))
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.replace("┃", "│").split("│")[1:-1]]
        if len(cells) == 4:
            rows[cells[0]] = cells[1:]
    assert rows["metric"] == ["unit", "live", "simulated"]
    assert rows["throughput"] == ["req/s", "198", "200 ± 13"]  # 2 replications: Student-t, 12.7 x 1
    assert rows["latency p99"] == ["ms", "12.3", "0"]
    assert rows["rate limited"] == ["%", "5", "0"]  # shown because one column has some
    assert "timed out" not in rows  # no column has any


def test_the_note_warns_about_drops_then_lag() -> None:
    calm = generator_note({"dropped": 0.0, "lag_mean": 0.001, "lag_p99": 0.002, "lag_max": 0.003})
    assert calm == "generator: 0.0% dropped, send lag p99 2.0 ms (max 3.0 ms)"
    assert "never sent" in generator_note({"dropped": 0.1, "lag_mean": 0.0, "lag_p99": 0.0, "lag_max": 0.0})
    assert "fell behind" in generator_note({"dropped": 0.0, "lag_mean": 0.0, "lag_p99": 0.05, "lag_max": 0.1})
