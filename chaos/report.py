"""The report of a chaos experiment: ``report.md`` and a self-contained ``report.html``.

Built from the Chaos Toolkit journal and the requests the experiment's load sent
(:mod:`chaos.extension.timeline`), as the simulator's reports are: blocks
(:mod:`simulator.document`) rendered to Markdown and, with every plot embedded, to HTML
(:mod:`simulator.htmlpage`). It holds the verdict, the steady-state hypothesis (each probe's
tolerance, its value before and after the method, met or not), the activities on one timeline, the
requests per activity, and two plots over the experiment's time -- every request's latency, and the
share of failed requests per second -- with the fault windows shaded (:func:`fault_windows`).
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure as PlotFigure

from chaos.run import Verdict
from simulator.document import Block, Figure, Heading, Paragraph, Table, render_markdown
from simulator.htmlpage import render_html
from simulator.plots import shade_windows

__all__ = ["FAULT_ENDS", "FAULT_STARTS", "fault_windows", "plot_errors", "plot_latency", "write_report"]

FAULT_STARTS = {
    "add_toxic",
    "kill_instance",
    "stop_service",
    "create_toxic",
    "create_latency_toxic",
    "create_bandwith_degradation_toxic",
    "create_slow_connection_close_toxic",
    "create_timeout_toxic",
    "create_slicer_toxic",
    "create_limiter_toxic",
    "disable_proxy",
}
"""Functions whose action starts a fault (servicelab's, and chaostoolkit-toxiproxy's)."""
FAULT_ENDS = {"remove_toxics", "restart_instances", "start_service", "delete_toxic", "reset", "enable_proxy"}
"""Functions whose action ends the faults started before it."""


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def _runs(journal: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [("method", run) for run in journal.get("run") or []] + [
        ("rollback", run) for run in journal.get("rollbacks") or []
    ]


def fault_windows(journal: dict[str, Any]) -> list[tuple[float, float, str]]:
    """``(start, end, label)`` of each fault, in seconds from the experiment's start: from the end of the
    action that started it to the start of the next action that ends faults (or the experiment's end).
    Overlapping faults are merged into one window naming them all."""
    origin, finish = _seconds(journal["start"]), _seconds(journal.get("end") or journal["start"])
    events = []
    for _, run in _runs(journal):
        func = run["activity"].get("provider", {}).get("func")
        if func in FAULT_STARTS and "end" in run:
            events.append((_seconds(run["end"]) - origin, True, run["activity"]["name"]))
        elif func in FAULT_ENDS and "start" in run:
            events.append((_seconds(run["start"]) - origin, False, run["activity"]["name"]))
    windows: list[tuple[float, float | None, list[str]]] = []
    for at, starts, name in sorted(events):
        if starts and windows and windows[-1][1] is None:
            windows[-1][2].append(name)
        elif starts:
            windows.append((at, None, [name]))
        elif windows and windows[-1][1] is None:
            windows[-1] = (windows[-1][0], at, windows[-1][2])
    end_of_run = finish - origin
    return [(start, end_of_run if end is None else end, ", ".join(names)) for start, end, names in windows]


def _requests(timeline: pd.DataFrame, origin: float) -> pd.DataFrame:
    frame = timeline.copy()
    frame["t"] = frame["time"] - origin
    return frame


def plot_latency(requests: pd.DataFrame, windows: list[tuple[float, float, str]], ax: Axes) -> Axes:
    """Every request's latency against the time it was due, successes and failures apart."""
    ok = requests["outcome"] == "ok"
    ax.scatter(requests.loc[ok, "t"], requests.loc[ok, "latency"], s=4, label="answered (ok)", alpha=0.6)
    ax.scatter(requests.loc[~ok, "t"], requests.loc[~ok, "latency"], s=6, label="failed", color="tab:red")
    ax.set_xlabel("time since the experiment started (s)")
    ax.set_ylabel("latency (s)")
    ax.set_title("Latency of every request")
    ax.legend(fontsize=8)
    return shade_windows(ax, windows)


def plot_errors(requests: pd.DataFrame, windows: list[tuple[float, float, str]], ax: Axes) -> Axes:
    """The share of failed requests in each second, and how many requests were due in it."""
    second = np.floor(requests["t"]).astype(int)
    per_second = requests.assign(second=second, failed=requests["outcome"] != "ok").groupby("second")
    ax.step(per_second.size().index, per_second["failed"].mean(), where="post", label="failed share")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("time since the experiment started (s)")
    ax.set_ylabel("failed share of requests")
    ax.set_title("Errors per second")
    ax.legend(fontsize=8)
    return shade_windows(ax, windows)


def _value(value: Any, width: int = 72) -> str:
    """A probe's or activity's output in a table cell: numbers to 4 digits, a mapping as ``k=v``
    pairs, cut to ``width`` characters (the journal keeps it whole)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        text = ", ".join(f"{key}={_value(item, width)}" for key, item in value.items())
    else:
        text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 3] + "..."


def _hypothesis(journal: dict[str, Any]) -> Table:
    states = journal.get("steady_states") or {}
    rows: dict[str, list[str]] = {}
    for probe in (journal.get("experiment", {}).get("steady-state-hypothesis") or {}).get("probes") or []:
        rows[probe["name"]] = [probe["name"], _value(probe.get("tolerance")), "not run", "not run", ""]
    for column, phase in ((2, "before"), (3, "after")):
        for probe in (states.get(phase) or {}).get("probes") or []:
            row = rows.setdefault(probe["activity"]["name"], [probe["activity"]["name"], "", "", "", ""])
            row[column] = _value(probe.get("output"))
            met = "yes" if probe.get("tolerance_met") else "NO"
            row[4] = met if not row[4] or met == "NO" else row[4]
    return Table(["probe", "tolerance", "before", "after", "met"], list(rows.values()))


def _activities(journal: dict[str, Any]) -> Table:
    origin = _seconds(journal["start"])
    rows = []
    for phase, run in _runs(journal):
        start = _seconds(run["start"]) - origin if "start" in run else math.nan
        rows.append(
            [
                phase,
                run["activity"]["name"],
                f"{start:.1f}",
                f"{run.get('duration', math.nan):.1f}",
                run.get("status", ""),
                _value(run.get("output")),
            ]
        )
    return Table(["phase", "activity", "start (s)", "duration (s)", "status", "output"], rows)


def _per_activity(requests: pd.DataFrame) -> Table:
    rows = []
    for activity, group in requests.groupby("activity", sort=False):
        ok = group.loc[group["outcome"] == "ok", "latency"]
        rows.append(
            [
                str(activity),
                str(len(group)),
                f"{1 - len(ok) / len(group):.1%}",
                f"{ok.quantile(0.5):.3f}" if len(ok) else "-",
                f"{ok.quantile(0.99):.3f}" if len(ok) else "-",
            ]
        )
    return Table(["activity", "requests", "failed", "p50 (s)", "p99 (s)"], rows)


def write_report(journal: dict[str, Any], timeline: pd.DataFrame, verdict: Verdict, out: Path) -> list[Path]:
    """Write ``report.md``, ``report.html`` and the plots' PNGs into ``out``; the files written."""
    out.mkdir(parents=True, exist_ok=True)
    experiment = journal.get("experiment", {})
    origin = _seconds(journal["start"])
    windows = fault_windows(journal)
    requests = _requests(timeline, origin)
    blocks: list[Block] = [
        Heading(experiment.get("title", "chaos experiment"), 1),
        Paragraph(experiment.get("description", "")),
        Paragraph(
            f"Verdict: {'PASSED' if verdict.passed else 'FAILED'} -- {verdict.message}. "
            f"Status `{journal.get('status')}`, deviated: {journal.get('deviated')}, "
            f"{journal.get('duration', 0):.1f} s."
        ),
        Heading("Steady-state hypothesis"),
        Paragraph((experiment.get("steady-state-hypothesis") or {}).get("title", "")),
        _hypothesis(journal),
        Heading("Activities"),
        _activities(journal),
    ]
    written: list[Path] = []
    if len(requests):
        blocks += [Heading("Requests"), _per_activity(requests)]
        figures = [("latency.png", "Latency over the experiment", plot_latency)]
        figures.append(("errors.png", "Errors over the experiment", plot_errors))
        shaded = ", ".join(f"{label} ({start:.1f}-{end:.1f} s)" for start, end, label in windows)
        blocks.append(Paragraph(f"Fault windows (shaded): {shaded or 'none'}."))
        for file, title, draw in figures:
            figure = PlotFigure(figsize=(8, 4.5), layout="constrained")
            draw(requests, windows, figure.subplots())
            figure.savefig(out / file, dpi=110)
            written.append(out / file)
            blocks.append(Figure(file, title))
    report, page = out / "report.md", out / "report.html"
    report.write_text(render_markdown(blocks), encoding="utf-8")
    page.write_text(render_html(blocks, out), encoding="utf-8")
    return [*written, report, page]
