"""Writing an experiment to a folder: the tables, the summary, the plots and a Markdown report.

Files: ``summary.json`` (settings and every metric's mean and 95% interval), ``requests.csv`` (one
row per request, with ``replication``), optionally ``spans.csv`` (one row per call: several times
the requests, so written only when asked for), ``timeseries.csv`` (per-bin series,
see :mod:`simulator.timeseries`), ``latency_cdf.png``, ``latency_over_time.png``, ``throughput.png``,
``utilization.png``, ``diagram.png`` and ``report.md`` tying them together.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from simulator.experiment import Experiment
from simulator.plots import (
    plot_latency_cdf,
    plot_latency_percentiles,
    plot_throughput,
    plot_utilization,
)
from simulator.tables import HEADLINE, SERVICE_COLUMNS, format_interval, split_summary
from simulator.topology import draw_topology

__all__ = ["summary_document", "write_report"]


def _clean(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def summary_document(experiment: Experiment) -> dict[str, object]:
    """The JSON-ready summary: settings, then each metric as ``{mean, low, high}``."""
    scenario = experiment.scenario
    overall, services = split_summary(experiment.summary)

    def cells(frame: pd.DataFrame) -> dict[str, dict[str, float | None]]:
        return {m: {k: _clean(frame.loc[m, k]) for k in ("mean", "low", "high")} for m in frame.index}

    return {
        "scenario": scenario.name,
        "seed": experiment.seed,
        "replications": len(experiment.results),
        "duration_s": scenario.duration,
        "warmup_s": scenario.warmup,
        "confidence_level": 0.95,
        "units": "times in seconds, rates per second, error_rate/utilization/rejected/p_wait as fractions",
        "metrics": cells(overall),
        "services": {name: cells(frame) for name, frame in services.items()},
    }


def _markdown(experiment: Experiment, figures: list[tuple[str, str]]) -> str:
    scenario = experiment.scenario
    overall, services = split_summary(experiment.summary)
    lines = [
        f"# {scenario.name}",
        "",
        scenario.description.strip(),
        "",
        f"{len(experiment.results)} replication(s), seed {experiment.seed}, "
        f"{scenario.duration:g} s simulated each with {scenario.warmup:g} s of warm-up left out.",
        "Intervals are 95% Student-t confidence intervals across replications;",
        "latency is over successful requests.",
        "",
        "| metric | value [95% CI] |",
        "|---|---|",
    ]
    lines += [
        f"| {label} ({unit}) | {format_interval(overall.loc[key], scale, brackets=True)} |"
        for key, (label, unit, scale) in HEADLINE.items()
    ]
    header = " | ".join(f"{label} ({unit})" for label, unit, _ in SERVICE_COLUMNS.values())
    lines += ["", "## Services", "", f"| service | {header} |", "|---" * (len(SERVICE_COLUMNS) + 1) + "|"]
    for name, frame in services.items():
        cells = " | ".join(
            format_interval(frame.loc[key], scale, brackets=True)
            for key, (_, _, scale) in SERVICE_COLUMNS.items()
        )
        lines.append(f"| {name} | {cells} |")
    lines += ["", "## Plots", ""]
    lines += [f"![{title}]({file})\n" for file, title in figures]
    lines += [
        "## Files",
        "",
        "`summary.json`, `requests.csv`, `timeseries.csv` and, with `--spans`, `spans.csv`",
        "(columns documented in servicelab's `simulator.records` and `simulator.timeseries`).",
        "",
    ]
    return "\n".join(lines)


def write_report(experiment: Experiment, out: Path, spans: bool = False) -> list[Path]:
    """Write the report's files into ``out`` (created if needed) and return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    summary_path = out / "summary.json"
    summary_path.write_text(json.dumps(summary_document(experiment), indent=2) + "\n")
    written.append(summary_path)
    tables = {"requests": experiment.requests, "timeseries": experiment.timeseries}
    if spans:
        tables["spans"] = experiment.spans
    for name, frame in tables.items():
        path = out / f"{name}.csv"
        frame.round(9).to_csv(path, index=False)
        written.append(path)
    figures = [
        ("diagram.png", "Call graph", lambda ax: draw_topology(experiment.scenario, ax)),
        ("latency_cdf.png", "Latency CDF", lambda ax: plot_latency_cdf(experiment.requests, ax)),
        (
            "latency_over_time.png",
            "Latency percentiles over time",
            lambda ax: plot_latency_percentiles(experiment.timeseries, ax),
        ),
        ("throughput.png", "Throughput over time", lambda ax: plot_throughput(experiment.timeseries, ax)),
        ("utilization.png", "Utilization over time", lambda ax: plot_utilization(experiment.timeseries, ax)),
    ]
    for file, _, draw in figures:
        figure = Figure(figsize=(8, 4.5), layout="constrained")
        draw(figure.subplots())
        figure.savefig(out / file, dpi=110)
        written.append(out / file)
    report = out / "report.md"
    report.write_text(_markdown(experiment, [(f, t) for f, t, _ in figures]))
    written.append(report)
    return written
