"""Writing a run to a folder: the tables, the summary, the plots and a Markdown and an HTML report.

A run is a :class:`~simulator.comparison.Comparison`: the base scenario and any variants, side by
side (one variant is just a comparison of one). Files: ``summary.json`` (settings, every metric's
mean and 95% interval per variant, and paired differences from the baseline: the first variant
unless the comparison names another), ``requests.csv``
(one row per request, with ``variant`` and ``replication``), optionally ``spans.csv`` (one row per
call: several times the requests, so written only when asked for), ``timeseries.csv`` (per-bin
series, see :mod:`simulator.timeseries`), ``diagram.png``, ``latency_cdf.png``,
``latency_over_time.png``, ``throughput.png``, ``utilization.png``, and ``report.md`` and
``report.html`` tying them together: both are rendered from the same blocks (:func:`report_blocks`,
:mod:`simulator.document`, :mod:`simulator.htmlpage`), which add the closed-form prediction of
:mod:`simulator.theory` beside the simulated means where one exists and a reproducibility section
(seeds, package versions, the ``wall_time`` the caller measured). When call edges carry resilience
policies, also ``tries.csv`` and ``breakers.csv`` (see
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
import platform
from importlib import metadata
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure as PlotFigure

from simulator.comparison import Comparison
from simulator.document import Block, Figure, Heading, Paragraph, Table, render_markdown
from simulator.faults import fault_windows
from simulator.htmlpage import render_html
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
from simulator.theory import predict, why_not
from simulator.topology import draw_topology
from simulator.traces import Sampling, run_critical_paths, write_traces

__all__ = ["report_blocks", "summary_document", "write_report"]

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
        "differences_from": comparison.reference if differences else None,
        "differences": differences,
    }


def _headline(comparison: Comparison) -> dict[str, tuple[str, str, float]]:
    return headline_rows([split_summary(e.summary)[0] for e in comparison.experiments.values()])


def _headline_table(comparison: Comparison) -> Table:
    names = comparison.names
    overall = {name: split_summary(e.summary)[0] for name, e in comparison.experiments.items()}
    rows = [
        [
            f"{label} ({unit})",
            *(format_interval(metric_row(overall[n], key), scale, brackets=True) for n in names),
        ]
        for key, (label, unit, scale) in _headline(comparison).items()
    ]
    return Table(["metric", *names], rows)


def _differences_table(comparison: Comparison) -> list[Block]:
    others = comparison.others
    rows = []
    for key, (label, unit, scale) in _headline(comparison).items():
        table = comparison.differences(key)
        rows.append([f"Δ {label} ({unit})", *(_marked(table.loc[n], scale) for n in others)])
    return [
        Paragraph(
            f"Paired differences from {comparison.reference} (same random numbers, per replication); "
            f"{SIGNIFICANT}: significant, the 95% interval of the paired difference excludes 0:"
        ),
        Table(["metric", *others], rows),
    ]


SIGNIFICANT = "✓"
"""The mark of a significant difference, the same in report.md and report.html."""


def _marked(row: pd.Series, scale: float) -> str:
    """A difference's interval, marked when it excludes 0 (a significant difference)."""
    text = format_interval(row, scale, brackets=True)
    return f"{text} {SIGNIFICANT}" if row["low"] > 0 or row["high"] < 0 else text


def _scope_table(
    kind: str, scopes: dict[str, pd.DataFrame], columns: dict[str, tuple[str, str, float]]
) -> Table:
    """One row per service (or edge), one column per metric in ``columns``."""
    header = [kind, *(f"{label} ({unit})" if unit else label for label, unit, _ in columns.values())]
    rows = [
        [
            name,
            *(
                format_interval(frame.loc[key], scale, brackets=True) if key in frame.index else "–"
                for key, (_, _, scale) in columns.items()
            ),
        ]
        for name, frame in scopes.items()
    ]
    return Table(header, rows)


def _rollout_lines(events: pd.DataFrame) -> Block:
    """The rollout events of the first replication, as a table (time, service, version, event, weight)."""
    rows = events[events["replication"] == 0] if "replication" in events else events
    if rows.empty:
        return Paragraph("No rollout started.")
    header = ["time (s)", "service", "version", "event", "traffic to it"]
    return Table(
        header,
        [
            [f"{r.time:.1f}", str(r.service), str(r.version), str(r.event), f"{r.weight:.0%}"]
            for r in rows.itertuples()
        ],
    )


def _critical_paths(comparison: Comparison) -> list[Block]:
    """Per variant, one row per route and service on its critical path, the slowest first in a route."""
    compared = len(comparison.names) > 1
    blocks: list[Block] = []
    for name, experiment in comparison.experiments.items():
        paths = run_critical_paths(experiment.results, experiment.scenario)
        blocks += [
            Heading(f"Critical path{f' ({name})' if compared else ''}"),
            Paragraph(
                "Time per request of each service on the chain of calls that set the latency (for a "
                "parallel fan-out, its slowest branch; client: the hops between the client and the first "
                "service), over a uniform sample of 2000 requests per replication."
            ),
        ]
        if paths.empty:
            blocks.append(Paragraph("No request to follow."))
            continue
        rows = [
            [str(r.route), str(r.service), f"{r.time * 1e3:.2f}", f"{r.share:.1%}", f"{r.on_path:.0%}"]
            for r in paths.itertuples()
        ]
        header = [
            "route",
            "service",
            "mean time on the path (ms)",
            "share of latency",
            "requests crossing it",
        ]
        blocks.append(Table(header, rows))
    return blocks


def _theory(comparison: Comparison) -> list[Block]:
    """Simulated means beside the closed-form prediction of :mod:`simulator.theory`, where one exists."""
    rows, notes = [], []
    compared = len(comparison.names) > 1
    for name, experiment in comparison.experiments.items():
        prediction = predict(experiment.scenario)
        if prediction is None:
            notes.append(f"{name}: no closed form ({why_not(experiment.scenario)})." if compared else "")
            continue
        overall, services = split_summary(experiment.summary)
        chain = len(prediction.services) > 1  # one station: its sojourn is the latency
        if chain:
            rows.append(
                [
                    name,
                    "end to end",
                    prediction.model,
                    format_interval(metric_row(overall, "latency_mean"), 1e3, brackets=True),
                    f"{prediction.sojourn * 1e3:.3g}",
                    "–",
                    "–",
                ]
            )
        for service, metrics in prediction.services.items():
            frame = services.get(service, pd.DataFrame(columns=overall.columns))
            rows.append(
                [
                    name,
                    service,
                    "" if chain else prediction.model,
                    format_interval(metric_row(frame, "sojourn"), 1e3, brackets=True),
                    f"{metrics.sojourn * 1e3:.3g}",
                    format_interval(metric_row(frame, "utilization"), 100.0, brackets=True),
                    f"{metrics.utilization * 100:.3g}",
                ]
            )
    if not rows:
        reason = why_not(comparison.base.scenario)
        return [Heading("Queueing theory"), Paragraph(f"No closed-form prediction applies: {reason}.")]
    header = ["variant", "station", "model", "sojourn (ms)", "theory (ms)", "utilization (%)", "theory (%)"]
    blocks: list[Block] = [
        Heading("Queueing theory"),
        Paragraph(
            "Simulated means with their 95% intervals beside the steady-state prediction of queueing "
            "theory (Erlang C, Pollaczek-Khinchine, Jackson); end to end, the sojourn is the latency mean "
            "of a request through the whole chain."
        ),
        Table(header, rows),
    ]
    notes = [note for note in notes if note]
    return blocks + [Paragraph(note) for note in notes]


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _reproducibility(comparison: Comparison, wall_time: float | None) -> list[Block]:
    """What it takes to get these numbers again: seeds, replications, versions, and how long it took."""
    rows = [
        [name, str(e.seed), str(len(e.results)), f"{e.scenario.duration:g}", f"{e.scenario.warmup:g}"]
        for name, e in comparison.experiments.items()
    ]
    versions = ", ".join(
        f"{package} {_version(package)}" for package in ("servicelab", "simpy", "numpy", "pandas")
    )
    measured = f"{wall_time:.2f} s" if wall_time is not None else "not measured"
    return [
        Heading("Reproducibility"),
        Table(["variant", "seed", "replications", "duration (s)", "warm-up (s)"], rows),
        Paragraph(
            f"Python {platform.python_version()}, {versions}. Wall time of the run: {measured}.\n"
            "Replication i of every variant uses the seed with index i in each named random stream, "
            "so the same scenario, seed and versions give the same numbers."
        ),
    ]


def report_blocks(
    comparison: Comparison, figures: list[Figure], wall_time: float | None = None
) -> list[Block]:
    """The report as blocks, rendered to ``report.md`` and ``report.html``."""
    base = comparison.base
    scenario = base.scenario
    compared = len(comparison.names) > 1
    blocks: list[Block] = [
        Heading(scenario.name, 1),
        Paragraph(scenario.description.strip()),
        Paragraph(
            "\n".join(
                [
                    f"{len(base.results)} replication(s), seed {base.seed}, "
                    f"{scenario.duration:g} s simulated each with {scenario.warmup:g} s of warm-up left out.",
                    "Intervals are 95% Student-t confidence intervals across replications;",
                    "latency is over successful requests.",
                    *(
                        ["Variants share their random numbers, so their differences are paired."]
                        if compared
                        else []
                    ),
                ]
            )
        ),
    ]
    if compared:
        blocks.append(Heading("Variants"))
    blocks.append(_headline_table(comparison))
    if compared:
        blocks += _differences_table(comparison)
    blocks += _theory(comparison)
    db_columns = database_columns([database_frames(e.summary) for e in comparison.experiments.values()])
    for name, experiment in comparison.experiments.items():
        suffix = f" ({name})" if compared else ""
        blocks += [
            Heading(f"Services{suffix}"),
            _scope_table("service", split_summary(experiment.summary)[1], SERVICE_COLUMNS),
        ]
        databases = database_frames(experiment.summary)
        if databases:
            blocks += [Heading(f"Databases{suffix}"), _scope_table("database", databases, db_columns)]
        edges = edge_frames(experiment.summary)
        if edges:
            blocks += [
                Heading(f"Call edges with resilience policies{suffix}"),
                _scope_table("edge", edges, EDGE_COLUMNS),
            ]
        versions = version_frames(experiment.summary)
        if versions:
            blocks += [
                Heading(f"Versions{suffix}"),
                _scope_table("version", versions, VERSION_COLUMNS),
                _rollout_lines(experiment.deployments),
            ]
        channels = channel_frames(experiment.summary)
        if channels:
            blocks += [
                Heading(f"Queues and consumer groups{suffix}"),
                _scope_table("channel", channels, CHANNEL_COLUMNS),
            ]
    blocks += _critical_paths(comparison)
    blocks += [Heading("Plots"), *figures]
    blocks += _reproducibility(comparison, wall_time)
    blocks += [
        Heading("Files"),
        Paragraph(
            "`summary.json`, `requests.csv`, `timeseries.csv`, with `--spans` `spans.csv`, with\n"
            "resilience policies on call edges `tries.csv` and `breakers.csv`, with autoscaling\n"
            "`scaling.csv`, with brokers `messages.csv`, with deployments `deployments.csv` and\n"
            "`versions.csv`, with `--traces N` `traces.otlp.json` or `traces.zipkin.json` (N requests of\n"
            "the base variant's first replication, see servicelab's `simulator.traces`)\n"
            "(columns documented in servicelab's `simulator.records` and `simulator.timeseries`;\n"
            "every table has `variant` and `replication` columns)."
        ),
    ]
    return blocks


def write_report(
    comparison: Comparison,
    out: Path,
    spans: bool = False,
    wall_time: float | None = None,
    traces: int = 0,
    trace_format: str = "otlp",
    trace_sample: Sampling = "first",
) -> list[Path]:
    """Write the report's files into ``out`` (created if needed) and return their paths.

    ``wall_time`` is how long the run took in seconds (the command line measures the simulation); the
    reproducibility section shows it, or says it was not measured. ``traces`` requests of the base
    variant's first replication, chosen by ``trace_sample``, go to ``traces.<trace_format>.json``
    (see :func:`simulator.traces.write_traces`).
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
        figure = PlotFigure(figsize=(8, 4.5), layout="constrained")
        draw(figure.subplots())
        figure.savefig(out / file, dpi=110)
        written.append(out / file)
    blocks = report_blocks(comparison, [Figure(f, t) for f, t, _ in figures], wall_time)
    report = out / "report.md"
    report.write_text(render_markdown(blocks))
    page = out / "report.html"
    page.write_text(render_html(blocks, out, comparison.base.scenario), encoding="utf-8")
    written += [report, page]
    return written
