"""Writing a run to a folder: the tables, the summary, the plots and a Markdown report.

A run is a :class:`~simulator.comparison.Comparison`: the base scenario and any variants, side by
side (one variant is just a comparison of one). Files: ``summary.json`` (settings, every metric's
mean and 95% interval per variant, and paired differences from the first variant), ``requests.csv``
(one row per request, with ``variant`` and ``replication``), optionally ``spans.csv`` (one row per
call: several times the requests, so written only when asked for), ``timeseries.csv`` (per-bin
series, see :mod:`simulator.timeseries`), ``diagram.png``, ``latency_cdf.png``,
``latency_over_time.png``, ``throughput.png``, ``utilization.png`` and ``report.md`` tying them
together. When call edges carry resilience policies, also ``tries.csv`` and ``breakers.csv`` (see
:mod:`simulator.records`), ``tries.png`` and ``breakers.png``. With message brokers, also
``messages.csv`` (one row per message and channel), ``backlog.png`` and ``message_lag.png``. With
database operations (:mod:`simulator.database`), also ``db_ops.csv`` and ``databases.png``.
When services are autoscaled, also
``scaling.csv`` and ``replicas.png`` (replicas over time of the autoscaled services, per variant; of
every service when nothing scales but replicas have a price);
when replicas have a price, ``cost.png`` (cumulative cost per variant) and ``cost`` in the headline.
With deployments (:mod:`simulator.deployments`), also ``deployments.csv`` (the rollout events),
``versions.csv`` (the version of each replica), ``versions.png`` (replicas by version over time),
``traffic_share.png`` (share of calls to the new versions), a table per version and the events of
each variant's first replication.

Every report has a *critical path* table per variant (:mod:`simulator.traces`): for each route, the
mean time per request each service spends on the chain of calls that determined the latency, and
its share (over a uniform sample of 2000 requests per replication). With ``traces`` > 0 it also
writes ``traces.otlp.json`` or ``traces.zipkin.json``: that many requests of the base variant's
first replication as distributed traces.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from simulator.comparison import Comparison
from simulator.faults import fault_windows
from simulator.plots import (
    plot_backlog,
    plot_breaker_open,
    plot_cost,
    plot_database_waits,
    plot_edge_tries,
    plot_latency_cdf,
    plot_latency_percentiles,
    plot_message_lag,
    plot_replicas,
    plot_throughput,
    plot_traffic_share,
    plot_utilization,
    plot_versions,
    shade_windows,
)
from simulator.tables import (
    CHANNEL_COLUMNS,
    EDGE_COLUMNS,
    SERVICE_COLUMNS,
    VERSION_COLUMNS,
    channel_frames,
    database_columns,
    database_frames,
    edge_frames,
    format_interval,
    headline_rows,
    metric_row,
    split_summary,
    version_frames,
)
from simulator.topology import draw_topology
from simulator.traces import Sampling, run_critical_paths, write_traces

__all__ = ["summary_document", "write_report"]

UNITS = "times in seconds, rates per second, error_rate/utilization/rejected/p_wait as fractions"


def _clean(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _cells(frame: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    return {m: {k: _clean(frame.loc[m, k]) for k in ("mean", "low", "high")} for m in frame.index}


def summary_document(comparison: Comparison) -> dict[str, object]:
    """The JSON-ready summary: settings, then per variant each metric as ``{mean, low, high}``."""
    base = comparison.base
    variants = {}
    for name, experiment in comparison.experiments.items():
        overall, services = split_summary(experiment.summary)
        variants[name] = {
            "scenario": experiment.scenario.name,
            "metrics": _cells(overall),
            "services": {service: _cells(frame) for service, frame in services.items()},
            "edges": {edge: _cells(frame) for edge, frame in edge_frames(experiment.summary).items()},
            "channels": {name: _cells(frame) for name, frame in channel_frames(experiment.summary).items()},
        }
    differences = {
        metric: _cells(comparison.differences(metric))
        for metric in _headline(comparison)
        if len(comparison.names) > 1
    }
    return {
        "scenario": base.scenario.name,
        "seed": base.seed,
        "replications": len(base.results),
        "duration_s": base.scenario.duration,
        "warmup_s": base.scenario.warmup,
        "confidence_level": 0.95,
        "units": UNITS,
        "variants": variants,
        "differences_from": comparison.names[0] if differences else None,
        "differences": differences,
    }


def _headline(comparison: Comparison) -> dict[str, tuple[str, str, float]]:
    return headline_rows([split_summary(e.summary)[0] for e in comparison.experiments.values()])


def _headline_table(comparison: Comparison) -> list[str]:
    names = comparison.names
    lines = [f"| metric | {' | '.join(names)} |", "|---" * (len(names) + 1) + "|"]
    overall = {name: split_summary(e.summary)[0] for name, e in comparison.experiments.items()}
    for key, (label, unit, scale) in _headline(comparison).items():
        cells = " | ".join(format_interval(metric_row(overall[n], key), scale, brackets=True) for n in names)
        lines.append(f"| {label} ({unit}) | {cells} |")
    return lines


def _differences_table(comparison: Comparison) -> list[str]:
    others = comparison.names[1:]
    lines = [
        f"Paired differences from `{comparison.names[0]}` (same random numbers, per replication):",
        "",
        f"| metric | {' | '.join(others)} |",
        "|---" * (len(others) + 1) + "|",
    ]
    for key, (label, unit, scale) in _headline(comparison).items():
        table = comparison.differences(key)
        cells = " | ".join(format_interval(table.loc[n], scale, brackets=True) for n in others)
        lines.append(f"| Δ {label} ({unit}) | {cells} |")
    return lines


def _scope_table(
    kind: str, scopes: dict[str, pd.DataFrame], columns: dict[str, tuple[str, str, float]]
) -> list[str]:
    """One row per service (or edge), one column per metric in ``columns``."""
    header = " | ".join(f"{label} ({unit})" if unit else label for label, unit, _ in columns.values())
    lines = [f"| {kind} | {header} |", "|---" * (len(columns) + 1) + "|"]
    for name, frame in scopes.items():
        cells = " | ".join(
            format_interval(frame.loc[key], scale, brackets=True) if key in frame.index else "–"
            for key, (_, _, scale) in columns.items()
        )
        lines.append(f"| {name} | {cells} |")
    return lines


def _rollout_lines(events: pd.DataFrame) -> list[str]:
    """The rollout events of the first replication, as a table (time, service, version, event, weight)."""
    rows = events[events["replication"] == 0] if "replication" in events else events
    if rows.empty:
        return ["No rollout started."]
    lines = ["| time (s) | service | version | event | traffic to it |", "|---|---|---|---|---|"]
    for row in rows.itertuples():
        lines.append(f"| {row.time:.1f} | {row.service} | {row.version} | {row.event} | {row.weight:.0%} |")
    return lines


def _critical_path_table(paths: pd.DataFrame) -> list[str]:
    """One row per route and service on its critical path, the slowest first within a route."""
    if paths.empty:
        return ["No request to follow."]
    lines = ["| route | service | mean time on the path (ms) | share of latency | requests crossing it |"]
    lines.append("|---|---|---|---|---|")
    for row in paths.itertuples():
        lines.append(
            f"| {row.route} | {row.service} | {row.time * 1e3:.2f} | {row.share:.1%} | {row.on_path:.0%} |"
        )
    return lines


def _markdown(comparison: Comparison, figures: list[tuple[str, str]]) -> str:
    base = comparison.base
    scenario = base.scenario
    compared = len(comparison.names) > 1
    lines = [
        f"# {scenario.name}",
        "",
        scenario.description.strip(),
        "",
        f"{len(base.results)} replication(s), seed {base.seed}, "
        f"{scenario.duration:g} s simulated each with {scenario.warmup:g} s of warm-up left out.",
        "Intervals are 95% Student-t confidence intervals across replications;",
        "latency is over successful requests.",
    ]
    if compared:
        lines += ["Variants share their random numbers, so their differences are paired.", "", "## Variants"]
    lines += ["", *_headline_table(comparison), ""]
    if compared:
        lines += [*_differences_table(comparison), ""]
    db_columns = database_columns([database_frames(e.summary) for e in comparison.experiments.values()])
    for name, experiment in comparison.experiments.items():
        lines += [
            f"## Services{f' ({name})' if compared else ''}",
            "",
            *_scope_table("service", split_summary(experiment.summary)[1], SERVICE_COLUMNS),
            "",
        ]
        databases = database_frames(experiment.summary)
        if databases:
            lines += [
                f"## Databases{f' ({name})' if compared else ''}",
                "",
                *_scope_table("database", databases, db_columns),
                "",
            ]
        edges = edge_frames(experiment.summary)
        if edges:
            lines += [
                f"## Call edges with resilience policies{f' ({name})' if compared else ''}",
                "",
                *_scope_table("edge", edges, EDGE_COLUMNS),
                "",
            ]
        versions = version_frames(experiment.summary)
        if versions:
            lines += [
                f"## Versions{f' ({name})' if compared else ''}",
                "",
                *_scope_table("version", versions, VERSION_COLUMNS),
                "",
                *_rollout_lines(experiment.deployments),
                "",
            ]
        channels = channel_frames(experiment.summary)
        if channels:
            lines += [
                f"## Queues and consumer groups{f' ({name})' if compared else ''}",
                "",
                *_scope_table("channel", channels, CHANNEL_COLUMNS),
                "",
            ]
    for name, experiment in comparison.experiments.items():
        lines += [
            f"## Critical path{f' ({name})' if compared else ''}",
            "",
            "Time per request of each service on the chain of calls that set the latency (for a",
            "parallel fan-out, its slowest branch; `client`: the hops between the client and the",
            "first service), over a uniform sample of 2000 requests per replication.",
            "",
            *_critical_path_table(run_critical_paths(experiment.results, experiment.scenario)),
            "",
        ]
    lines += ["## Plots", ""]
    lines += [f"![{title}]({file})\n" for file, title in figures]
    lines += [
        "## Files",
        "",
        "`summary.json`, `requests.csv`, `timeseries.csv`, with `--spans` `spans.csv`, with",
        "resilience policies on call edges `tries.csv` and `breakers.csv`, with autoscaling `scaling.csv`,",
        "with brokers `messages.csv`, with deployments `deployments.csv` and `versions.csv`,",
        "with `--traces N` `traces.otlp.json` or `traces.zipkin.json` (N requests of the base",
        "variant's first replication, see servicelab's `simulator.traces`)",
        "(columns documented in servicelab's `simulator.records` and `simulator.timeseries`;",
        "every table has `variant` and `replication` columns).",
        "",
    ]
    return "\n".join(lines)


def write_report(
    comparison: Comparison,
    out: Path,
    spans: bool = False,
    traces: int = 0,
    trace_format: str = "otlp",
    trace_sample: Sampling = "first",
) -> list[Path]:
    """Write the report's files into ``out`` (created if needed) and return their paths.

    ``traces`` requests of the base variant's first replication, chosen by ``trace_sample``, go to
    ``traces.<trace_format>.json`` (see :func:`simulator.traces.write_traces`).
    """
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if traces > 0:
        base = comparison.base
        written.append(
            write_traces(base.results[0], out, traces, trace_format, trace_sample, scenario=base.scenario)
        )
    summary_path = out / "summary.json"
    summary_path.write_text(json.dumps(summary_document(comparison), indent=2) + "\n")
    written.append(summary_path)
    tables = {"requests": comparison.requests, "timeseries": comparison.timeseries}
    if spans:
        tables["spans"] = comparison.spans()
    if any(result.callers for e in comparison.experiments.values() for result in e.results):
        tables["db_ops"] = comparison.db_ops
    guarded = len(comparison.tries) > 0
    if guarded:
        tables["tries"] = comparison.tries
        tables["breakers"] = comparison.breakers
    messaging = any(e.scenario.brokers for e in comparison.experiments.values())
    if messaging:
        tables["messages"] = comparison.messages
    scaled = sorted(set(comparison.scaling["service"].astype(str))) if len(comparison.scaling) else []
    if scaled:
        tables["scaling"] = comparison.scaling
    deployed = any(e.scenario.deployments for e in comparison.experiments.values())
    if deployed:
        tables["deployments"] = comparison.deployments
        tables["versions"] = comparison.versions
    priced = any(
        service.price_per_replica_hour > 0
        for experiment in comparison.experiments.values()
        for service in experiment.scenario.services.values()
    )
    for name, frame in tables.items():
        path = out / f"{name}.csv"
        frame.round(9).to_csv(path, index=False)
        written.append(path)
    requests, series = comparison.requests, comparison.timeseries
    base = comparison.base
    faults = fault_windows(base.scenario.faults, max(r.horizon for r in base.results))
    figures = [
        ("diagram.png", "Call graph", lambda ax: draw_topology(comparison.base.scenario, ax)),
        ("latency_cdf.png", "Latency CDF", lambda ax: plot_latency_cdf(requests, ax)),
        (
            "latency_over_time.png",
            "Latency over time",
            lambda ax: shade_windows(plot_latency_percentiles(series, ax, log=bool(scaled)), faults),
        ),
        (
            "throughput.png",
            "Throughput over time",
            lambda ax: shade_windows(plot_throughput(series, ax), faults),
        ),
        ("utilization.png", "Utilization", lambda ax: plot_utilization(series, ax)),
    ]
    if guarded:
        figures += [
            (
                "tries.png",
                "Tries on call edges",
                lambda ax: shade_windows(plot_edge_tries(series, ax), faults),
            ),
            (
                "breakers.png",
                "Circuit breakers open",
                lambda ax: shade_windows(plot_breaker_open(series, ax), faults),
            ),
        ]
    if messaging:
        figures += [
            (
                "backlog.png",
                "Backlog of queues and consumer groups",
                lambda ax: shade_windows(plot_backlog(series, ax), faults),
            ),
            (
                "message_lag.png",
                "Message lag (publication to acknowledgement)",
                lambda ax: shade_windows(plot_message_lag(series, ax), faults),
            ),
        ]
    if any(result.callers for e in comparison.experiments.values() for result in e.results):
        figures.append(
            (
                "databases.png",
                "Waiting for connections and row locks",
                lambda ax: shade_windows(plot_database_waits(series, ax), faults),
            )
        )
    if scaled or priced:  # what the replicas cost goes with how many there were
        services = sorted({name for e in comparison.experiments.values() for name in e.scenario.services})
        counted = scaled or services
        figures.append(
            (
                "replicas.png",
                "Replicas over time",
                lambda ax: shade_windows(plot_replicas(series, counted, ax, total=not scaled), faults),
            )
        )
    if deployed:
        new = sorted(
            {
                f"{d.service}@{d.version}"
                for e in comparison.experiments.values()
                for d in e.scenario.deployments
            }
        )
        rolled = [name for name, e in comparison.experiments.items() if e.scenario.deployments]
        released = series[series["variant"].isin(rolled)]  # variants that deploy something
        figures += [
            (
                "versions.png",
                "Replicas by version",
                lambda ax: shade_windows(plot_versions(released, ax), faults),
            ),
            (
                "traffic_share.png",
                "Traffic to the new version",
                lambda ax: shade_windows(plot_traffic_share(released, new, ax), faults),
            ),
        ]
    if priced:
        figures.append(("cost.png", "Cumulative cost", lambda ax: plot_cost(series, ax)))
    for file, _, draw in figures:
        figure = Figure(figsize=(8, 4.5), layout="constrained")
        draw(figure.subplots())
        figure.savefig(out / file, dpi=110)
        written.append(out / file)
    report = out / "report.md"
    report.write_text(_markdown(comparison, [(f, t) for f, t, _ in figures]))
    written.append(report)
    return written
