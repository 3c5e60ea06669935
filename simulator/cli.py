"""``servicelab sim``: validate, draw and run scenarios from the command line.

A thin layer: load the scenario (problems become ``• field (file:line): message`` lines on stderr
and exit code 1), call the library, render. Everything here is reachable from Python.
"""

from __future__ import annotations

import math
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import pandas as pd
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from simulator.comparison import BASE, Comparison, UnknownVariantError, run_comparison, select_variants
from simulator.errors import ScenarioError
from simulator.loader import apply_variant, load_scenario
from simulator.scenario import Scenario
from simulator.tables import (
    CHANNEL_COLUMNS,
    COST_ROW,
    EDGE_COLUMNS,
    HEADLINE,
    SERVICE_COLUMNS,
    channel_frames,
    database_columns,
    database_frames,
    edge_frames,
    format_interval,
    headline_rows,
    metric_row,
    split_summary,
)

if TYPE_CHECKING:
    from simulator.sweeps import Sweep

__all__ = ["LEGEND", "app"]

LEGEND = "✓ significant: the 95% interval of the paired difference excludes 0; ✗ not: it includes 0"

app = typer.Typer(
    help="Simulate microservice architectures described in YAML scenarios.", no_args_is_help=True
)
console = Console(width=120) if not sys.stdout.isatty() else Console()
errors = Console(stderr=True)


class TraceFormat(StrEnum):
    otlp = "otlp"
    zipkin = "zipkin"


class TraceSample(StrEnum):
    first = "first"
    uniform = "uniform"
    slowest = "slowest"


ProgressOpt = Annotated[
    bool | None, typer.Option("--progress/--no-progress", help="Progress bar [default: on a terminal].")
]
ScenarioArg = Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)]
VariantOpt = Annotated[str | None, typer.Option("--variant", "-v", help="Run this variant of the scenario.")]


def _fail(message: str) -> NoReturn:
    """Report a user's mistake on stderr and exit with code 1."""
    errors.print(message, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _load(path: Path, variant: str | None = None) -> Scenario:
    try:
        scenario = load_scenario(path)
        return apply_variant(scenario, variant, path.parent) if variant and variant != BASE else scenario
    except ScenarioError as error:
        _fail(error.render())


def _progress_bar(progress: bool | None, eta: bool = False) -> Progress:
    """A rich progress bar on stderr, shown on a terminal unless ``progress`` says otherwise.

    ``eta`` adds the count done and the estimated time remaining (for sweeps).
    """
    show = sys.stderr.isatty() if progress is None else progress
    extra = (MofNCompleteColumn(), TimeRemainingColumn()) if eta else ()
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        *extra,
        TimeElapsedColumn(),
        console=errors,
        disable=not show,
        transient=True,
    )


def _headline(comparison: Comparison) -> Table:
    base = comparison.base
    runs = len(base.results)
    title = f"{base.scenario.name} — {runs} replication{'s' if runs != 1 else ''}, seed {base.seed}"
    table = Table(title=title, caption="mean ± 95% CI half-width" if runs > 1 else None)
    table.add_column("metric")
    overall = {name: split_summary(e.summary)[0] for name, e in comparison.experiments.items()}
    for name in comparison.names:
        table.add_column(name if len(comparison.names) > 1 else "value", justify="right")
    for key, (label, unit, scale) in headline_rows(list(overall.values())).items():
        table.add_row(
            f"{label} ({unit})",
            *(format_interval(metric_row(overall[n], key), scale) for n in comparison.names),
        )
    return table


def _services(comparison: Comparison) -> Table:
    """Every service column for a single run; utilization per variant for a comparison."""
    if len(comparison.names) == 1:
        table = Table(title="services")
        table.add_column("service")
        for label, unit, _ in SERVICE_COLUMNS.values():
            table.add_column(f"{label} ({unit})", justify="right")
        for name, frame in split_summary(comparison.base.summary)[1].items():
            table.add_row(
                name, *(format_interval(frame.loc[k], s) for k, (_, _, s) in SERVICE_COLUMNS.items())
            )
        return table
    label, unit, scale = SERVICE_COLUMNS["utilization"]
    table = Table(title=f"{label} by service ({unit})")
    table.add_column("service")
    services = {name: split_summary(e.summary)[1] for name, e in comparison.experiments.items()}
    for name in comparison.names:
        table.add_column(name, justify="right")
    for service in dict.fromkeys(s for n in comparison.names for s in services[n]):  # variants may differ
        table.add_row(
            service,
            *(
                format_interval(services[n][service].loc["utilization"], scale)
                if service in services[n]
                else "–"
                for n in comparison.names
            ),
        )
    return table


def _databases(comparison: Comparison) -> Table | None:
    """Databases with ``op`` calls, one row per database and variant; None when there are none."""
    frames = {name: database_frames(e.summary) for name, e in comparison.experiments.items()}
    columns = database_columns(list(frames.values()))
    if not columns:
        return None
    table = Table(title="databases")
    table.add_column("database")
    compared = len(comparison.names) > 1
    if compared:
        table.add_column("variant")
    for label, unit, _ in columns.values():
        table.add_column(f"{label} ({unit})" if unit else label, justify="right")
    for variant, scopes in frames.items():
        for name, frame in scopes.items():
            cells = [
                format_interval(frame.loc[k], s) if k in frame.index else "–"
                for k, (_, _, s) in columns.items()
            ]
            table.add_row(name, *([variant] if compared else []), *cells)
    return table


def _edges(comparison: Comparison) -> Table | None:
    """Guarded call edges: every column for a single run; tries per call by variant for a comparison.

    None when no variant has an edge with resilience policies.
    """
    edges = {name: edge_frames(e.summary) for name, e in comparison.experiments.items()}
    names = sorted({edge for frames in edges.values() for edge in frames})
    if not names:
        return None
    if len(comparison.names) == 1:
        table = Table(title="call edges with resilience policies")
        table.add_column("edge")
        for label, unit, _ in EDGE_COLUMNS.values():
            table.add_column(f"{label} ({unit})" if unit else label, justify="right")
        for name, frame in edges[comparison.names[0]].items():
            table.add_row(name, *(format_interval(frame.loc[k], s) for k, (_, _, s) in EDGE_COLUMNS.items()))
        return table
    label, _, scale = EDGE_COLUMNS["tries"]
    table = Table(title=f"{label} by call edge (work amplification)")
    table.add_column("edge")
    for variant in comparison.names:
        table.add_column(variant, justify="right")
    for name in names:
        cells = [
            format_interval(edges[v][name].loc["tries"], scale) if name in edges[v] else "–"
            for v in comparison.names
        ]
        table.add_row(name, *cells)
    return table


def _channels(comparison: Comparison) -> Table | None:
    """Queues and consumer groups: every column for a single run; backlog and lag p99 by variant for a
    comparison. None without brokers."""
    frames = {name: channel_frames(e.summary) for name, e in comparison.experiments.items()}
    names = list(dict.fromkeys(channel for f in frames.values() for channel in f))
    if not names:
        return None
    if len(comparison.names) == 1:
        table = Table(title="queues and consumer groups")
        table.add_column("channel")
        for label, unit, _ in CHANNEL_COLUMNS.values():
            table.add_column(f"{label} ({unit})", justify="right")
        for name, frame in frames[comparison.names[0]].items():
            cells = (format_interval(frame.loc[k], s) for k, (_, _, s) in CHANNEL_COLUMNS.items())
            table.add_row(name, *cells)
        return table
    table = Table(title="backlog (msgs) / lag p99 (ms) by queue or consumer group")
    table.add_column("channel")
    for variant in comparison.names:
        table.add_column(variant, justify="right")
    for name in names:
        cells = [
            f"{format_interval(frames[v][name].loc['backlog_mean'], 1.0)} / "
            f"{format_interval(frames[v][name].loc['lag_p99'], 1e3)}"
            if name in frames[v]
            else "–"
            for v in comparison.names
        ]
        table.add_row(name, *cells)
    return table


@app.command()
def run(
    scenario: ScenarioArg,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder for the report [default: out/NAME].")
    ] = None,
    replications: Annotated[
        int | None, typer.Option(min=1, help="Number of replications [default: the scenario's].")
    ] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Override the scenario's seed.")] = None,
    variant: Annotated[
        list[str] | None,
        typer.Option(
            "--variant",
            "-v",
            help=f"Run only this variant ('{BASE}' is the scenario as written); repeat to compare several "
            "[default: the base and every variant].",
        ),
    ] = None,
    spans: Annotated[bool, typer.Option("--spans", help="Also write spans.csv, one row per call.")] = False,
    traces: Annotated[
        int,
        typer.Option(
            min=0, help="Also write this many requests (base variant, first replication) as traces."
        ),
    ] = 0,
    trace_format: Annotated[
        TraceFormat, typer.Option(help="Format of the traces: traces.otlp.json or traces.zipkin.json.")
    ] = TraceFormat.otlp,
    trace_sample: Annotated[
        TraceSample, typer.Option(help="Which requests to trace: the first, a uniform draw, the slowest.")
    ] = TraceSample.first,
    progress: ProgressOpt = None,
) -> None:
    """Simulate SCENARIO (and its variants, side by side), print the summary and write the report folder."""
    traced = (traces, trace_format.value, trace_sample.value)
    comparison, folder = _simulate(scenario, variant, None, replications, seed, out, spans, progress, traced)
    _print_tables(comparison)
    console.print(f"report: {folder / 'report.md'}")
    console.print(f"report: {folder / 'report.html'}")


def _simulate(
    scenario: Path,
    variants: list[str] | None,
    baseline: str | None,
    replications: int | None,
    seed: int | None,
    out: Path | None,
    spans: bool,
    progress: bool | None,
    traces: tuple[int, str, str] = (0, "otlp", "first"),
) -> tuple[Comparison, Path]:
    """Load, run the variants with a progress bar and write the report folder (with ``compare.csv``
    when there is a ``baseline``; ``traces``: how many requests to export, in which format, sampled
    how); a user's mistake exits 1."""
    from simulator.api import CompareResults, RunResults  # matplotlib is loaded only for commands that draw

    loaded = _load(scenario)
    try:
        names = select_variants(loaded, variants or None, baseline)
    except UnknownVariantError as error:
        _fail(f"{scenario}: {error}")
    runs = replications or loaded.replications
    with _progress_bar(progress) as bar:
        task = bar.add_task(f"simulating {loaded.name}", total=runs * len(names))

        def tick(name: str, replication: int, done: float) -> None:
            bar.update(task, completed=names.index(name) * runs + replication + done, description=name)

        started = time.perf_counter()  # the wall time the report's reproducibility section shows
        try:
            comparison = run_comparison(
                loaded,
                names,
                replications=runs,
                seed=seed,
                progress=tick,
                base_dir=scenario.parent,
                baseline=baseline,
            )
        except ScenarioError as error:
            _fail(error.render())
        elapsed = time.perf_counter() - started
        bar.update(task, description="writing the report")
        kind = RunResults if baseline is None else CompareResults
        results = kind(comparison, wall_time=elapsed)
        folder = out or Path("out") / scenario.stem
        try:
            results.report(
                folder, spans=spans, traces=traces[0], trace_format=traces[1], trace_sample=traces[2]
            )
        except OSError as error:
            _fail(f"cannot write the report to {folder}: {error.strerror or error}")
    return comparison, folder


def _print_tables(comparison: Comparison) -> None:
    console.print(_headline(comparison))
    console.print(_services(comparison))
    for table in (_edges(comparison), _channels(comparison), _databases(comparison)):
        if table is not None:
            console.print(table)


def _differences(comparison: Comparison) -> Table:
    """Paired differences from the baseline: interval, relative change and significance per metric."""
    runs = len(comparison.base.results)
    table = Table(
        title=f"paired differences from {comparison.reference} (variant − baseline, same random numbers)",
        caption=f"95% CI of the paired differences of {runs} replications",
    )
    for column in ("metric", "variant", "difference [95% CI]", "relative", "significant"):
        table.add_column(column, justify="left" if column in ("metric", "variant") else "right")
    labels = {**HEADLINE, **COST_ROW}
    for row in comparison.paired().itertuples():
        label, unit, scale = labels[row.metric]
        interval = pd.Series({"mean": row.difference, "low": row.low, "high": row.high})
        relative = "–" if math.isnan(row.relative) else f"{row.relative:+.1%}"
        table.add_row(
            f"Δ {label} ({unit})",
            row.variant,
            format_interval(interval, scale, brackets=True),
            relative,
            "✓" if row.significant else "✗",
        )
    return table


@app.command()
def compare(
    scenario: ScenarioArg,
    baseline: Annotated[
        str,
        typer.Option(help=f"The variant the others are compared with ('{BASE}': the scenario as written)."),
    ] = BASE,
    variant: Annotated[
        list[str] | None,
        typer.Option(
            "--variant",
            "-v",
            help="Compare only this variant with the baseline; repeat for several [default: every variant].",
        ),
    ] = None,
    replications: Annotated[
        int | None, typer.Option(min=2, help="Number of replications [default: the scenario's].")
    ] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Override the scenario's seed.")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder for the report [default: out/NAME].")
    ] = None,
    spans: Annotated[bool, typer.Option("--spans", help="Also write spans.csv, one row per call.")] = False,
    progress: ProgressOpt = None,
) -> None:
    """Run SCENARIO's variants on the same random numbers and report their paired differences from the
    baseline (95% intervals, relative change, significance); writes the report folder and compare.csv."""
    comparison, folder = _simulate(scenario, variant, baseline, replications, seed, out, spans, progress)
    _print_tables(comparison)
    if comparison.others:
        console.print(_differences(comparison))
        console.print(LEGEND)
    else:
        console.print(f"nothing to compare: only {comparison.reference} ran")
    console.print(f"report: {folder / 'report.md'} (differences: {folder / 'compare.csv'})")
    console.print(f"report: {folder / 'report.html'}")


@app.command()
def validate(scenario: ScenarioArg) -> None:
    """Check SCENARIO (and each of its variants) without running it."""
    loaded = _load(scenario)
    variants = f" and {len(loaded.variants)} variant(s)" if loaded.variants else ""
    console.print(
        f"{scenario}: valid — {len(loaded.services)} services, {len(loaded.routes)} routes, "
        f"{len(loaded.workloads)} workloads{variants}"
    )


@app.command()
def diagram(
    scenario: ScenarioArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="PNG (or SVG/PDF) file to write.")] = Path(
        "diagram.png"
    ),
    variant: VariantOpt = None,
) -> None:
    """Draw SCENARIO's call graph to a file."""
    from matplotlib.figure import Figure

    from simulator.topology import draw_topology

    loaded = _load(scenario, variant)
    figure = Figure(figsize=(9, 5), layout="constrained")
    formats = figure.canvas.get_supported_filetypes()
    if output.suffix.lstrip(".").lower() not in formats:
        _fail(
            f"cannot draw to {output}: use one of the suffixes {', '.join('.' + f for f in sorted(formats))}"
        )
    draw_topology(loaded, figure.subplots())
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(output, dpi=120)
    except OSError as error:
        _fail(f"cannot write {output}: {error.strerror or error}")
    console.print(f"wrote {output}")


@app.command()
def backoff(
    clients: Annotated[
        list[int] | None,
        typer.Option(
            "--clients", "-c", min=1, help="Clients contending; repeat for several [default: 10..100]."
        ),
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option("--kind", "-k", help="Backoff kind; repeat for several [default: the blog's four]."),
    ] = None,
    replications: Annotated[int, typer.Option(min=1, help="Runs per (kind, clients).")] = 20,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the network delays and jitter.")] = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for backoff.csv and the plots.")] = Path(
        "out/backoff"
    ),
    progress: ProgressOpt = None,
) -> None:
    """Brooker's "Exponential Backoff And Jitter" experiment: clients contending on one row with
    optimistic concurrency, retrying with each backoff; writes the runs, a table and two plots."""
    from matplotlib.figure import Figure

    from patterns.retry import BACKOFFS
    from simulator.contention import DEFAULT_CLIENTS, DEFAULT_KINDS, plot_contention, summarize_contention
    from simulator.contention import sweep_contention as sweep

    kinds = kind or list(DEFAULT_KINDS)
    unknown = [name for name in kinds if name not in BACKOFFS]
    if unknown:
        _fail(f"unknown backoff kind {unknown[0]!r}; known kinds: {', '.join(BACKOFFS)}")
    frames = []
    with _progress_bar(progress) as bar:
        task = bar.add_task("backoff", total=len(kinds))
        for name in kinds:
            bar.update(task, description=name)
            frames.append(sweep(clients or list(DEFAULT_CLIENTS), [name], replications, seed=seed))
            bar.advance(task)
    frame = pd.concat(frames, ignore_index=True)
    summary = summarize_contention(frame)
    table = Table(title=f"Backoff and jitter: {replications} runs each, seed {seed}")
    for column in ("backoff", "clients", "calls", "completion time (s)"):
        table.add_column(column, justify="left" if column == "backoff" else "right")
    for row in summary.itertuples():
        table.add_row(
            str(row.kind),
            str(row.clients),
            _mean_half(row.calls, row.calls_half),
            _mean_half(row.completion_time, row.completion_time_half),
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        frame.to_csv(out / "backoff.csv", index=False)
        for metric in ("calls", "completion_time"):
            figure = Figure(figsize=(8, 4.5), layout="constrained")
            plot_contention(frame, metric, figure.subplots())
            figure.savefig(out / f"backoff_{metric}.png", dpi=110)
    except OSError as error:
        _fail(f"cannot write to {out}: {error.strerror or error}")
    console.print(table)
    console.print(f"wrote {out / 'backoff.csv'} and the plots backoff_calls.png, backoff_completion_time.png")


def _mean_half(mean: float, half: float) -> str:
    """``mean ± half-width``, whole numbers from 1000 on (no half-width after a single run)."""
    shown = f"{mean:,.0f}" if abs(mean) >= 1000 else f"{mean:.3g}"
    if math.isnan(half):
        return shown
    return f"{shown} ± {half:,.0f}" if abs(half) >= 1000 else f"{shown} ± {half:.2g}"


@app.command()
def sweep(
    scenario: ScenarioArg,
    param: Annotated[
        list[str],
        typer.Option(
            "--param",
            "-p",
            help="PATH=VALUES to sweep, e.g. services.api.replicas=1..8 or workload.rate=100/s,200/s; "
            "repeat for a grid.",
            show_default=False,
        ),
    ],
    replications: Annotated[
        int | None, typer.Option(min=1, help="Replications per point [default: the scenario's].")
    ] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Override the scenario's seed.")] = None,
    variant: Annotated[
        list[str] | None,
        typer.Option("--variant", "-v", help="Sweep only this variant; repeat for several [default: all]."),
    ] = None,
    executor: Annotated[
        str, typer.Option(help="Where points run: inprocess, processes or dask.")
    ] = "inprocess",
    workers: Annotated[
        int | None, typer.Option(min=1, help="Processes (or LocalCluster workers) [default: cores].")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask scheduler, e.g. tcp://host:8786 [default: a LocalCluster]."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Keep the points already in OUT/sweep.csv and run the rest.")
    ] = False,
    slo: Annotated[
        str | None, typer.Option(help='Find the smallest point meeting e.g. "p99<200ms,errors<0.1%".')
    ] = None,
    metric: Annotated[str, typer.Option(help="Metric of the response-surface plot.")] = "latency_p99",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for tables and plots [default: out/NAME-sweep]."),
    ] = None,
    progress: ProgressOpt = None,
) -> None:
    """Sweep SCENARIO over a grid of parameters (x variants x replications); write sweep.csv, summary.csv,
    the response surface and, with --slo, the smallest configuration meeting it."""
    from simulator.executors import EXECUTORS, MissingDependencyError
    from simulator.slo import parse_slo, smallest_meeting
    from simulator.sweeps import plan_sweep, run_sweep

    loaded = _load(scenario)
    if executor not in EXECUTORS:
        _fail(f"unknown executor {executor!r}; known: {', '.join(EXECUTORS)}")
    if scheduler is not None and executor != "dask":
        _fail("--scheduler needs --executor dask")
    try:
        clauses = parse_slo(slo) if slo is not None else []
    except ValueError as error:
        _fail(f"--slo: {error}")
    try:
        tasks = plan_sweep(loaded, param, variants=variant, replications=replications, seed=seed)
    except ScenarioError as error:
        _fail(error.render())
    try:
        if executor == "dask":
            runner = EXECUTORS["dask"](scheduler_address=scheduler, workers=workers)
        else:
            runner = EXECUTORS[executor](workers) if executor == "processes" else EXECUTORS[executor]()
    except MissingDependencyError as error:
        _fail(str(error))
    folder = out or Path("out") / f"{scenario.stem}-sweep"
    journal = folder / "sweep.csv"
    with _progress_bar(progress, eta=True) as bar:
        task = bar.add_task(f"sweeping {loaded.name}", total=len(tasks))
        try:
            result = run_sweep(
                tasks,
                runner,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                journal=journal,
                resume=resume,
            )
        except ScenarioError as error:
            _fail(error.render())
        except KeyboardInterrupt:
            errors.print(f"interrupted: finished points are in {journal}; rerun with --resume to go on")
            raise typer.Exit(130) from None
        except OSError as error:
            _fail(f"cannot write to {folder}: {error.strerror or error}")
    _write_sweep(result, folder, metric)
    params = result.params
    console.print(_sweep_table(result.summary, params, metric))
    if clauses:
        best = smallest_meeting(result.summary, clauses, params)
        for _, row in best.iterrows():
            point = ", ".join(f"{p}={row[p]}" for p in params)
            console.print(f"smallest configuration meeting {slo}: {point} ({row['variant']})", soft_wrap=True)
        if best.empty:
            console.print(f"no point of the sweep meets {slo}", soft_wrap=True)
        best.to_csv(folder / "slo.csv", index=False)
    ran = f" ({result.ran} run now)" if resume else ""
    console.print(f"wrote {folder / 'sweep.csv'}{ran}, summary.csv and surface_{metric}.png")


def _write_sweep(result: Sweep, folder: Path, metric: str) -> None:
    """sweep.csv (tidy), summary.csv and the response surface of ``metric``."""
    from matplotlib.figure import Figure

    from simulator.plots import plot_response_surface

    try:
        folder.mkdir(parents=True, exist_ok=True)
        result.results.to_csv(folder / "sweep.csv", index=False)
        summary = result.summary
        summary.to_csv(folder / "summary.csv", index=False)
        if metric not in set(summary["metric"]):
            _fail(f"no metric {metric!r} in the sweep; known: {', '.join(dict.fromkeys(summary['metric']))}")
        figure = Figure(figsize=(8, 4.5), layout="constrained")
        plot_response_surface(summary, result.params, metric, figure.subplots())
        figure.savefig(folder / f"surface_{metric}.png", dpi=110)
    except OSError as error:
        _fail(f"cannot write to {folder}: {error.strerror or error}")


def _sweep_table(summary: pd.DataFrame, params: list[str], metric: str) -> Table:
    """The headline metrics of every point and variant (mean ± CI half-width)."""
    shown = {"throughput": ("throughput", "req/s", 1.0), "error_rate": ("errors", "%", 100.0)}
    shown |= {m: (m.removeprefix("latency_"), "ms", 1e3) for m in ("latency_mean", "latency_p99")}
    if metric not in shown:
        shown[metric] = (metric, "", 1.0)
    table = Table(title="sweep", caption="mean ± 95% CI half-width")
    for column in [*params, "variant"]:
        table.add_column(column)
    for label, unit, _ in shown.values():
        table.add_column(f"{label} ({unit})" if unit else label, justify="right")
    wide = summary.set_index([*params, "variant", "metric"])
    for key in dict.fromkeys(wide.index.droplevel("metric")):
        cells = []
        for name, (_, _, scale) in shown.items():
            at = (*key, name)
            cells.append(format_interval(wide.loc[at], scale) if at in wide.index else "–")
        table.add_row(*map(str, key), *cells)
    return table
