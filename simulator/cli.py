"""``servicelab sim``: validate, draw and run scenarios from the command line.

A thin layer: load the scenario (problems become ``• field (file:line): message`` lines on stderr
and exit code 1), call the library, render. Everything here is reachable from Python.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from simulator.comparison import BASE, Comparison, run_comparison
from simulator.errors import ScenarioError
from simulator.loader import apply_variant, load_scenario
from simulator.scenario import Scenario
from simulator.tables import (
    EDGE_COLUMNS,
    SERVICE_COLUMNS,
    edge_frames,
    format_interval,
    headline_rows,
    split_summary,
)

__all__ = ["app"]

app = typer.Typer(
    help="Simulate microservice architectures described in YAML scenarios.", no_args_is_help=True
)
console = Console(width=120) if not sys.stdout.isatty() else Console()
errors = Console(stderr=True)

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
            f"{label} ({unit})", *(format_interval(overall[n].loc[key], scale) for n in comparison.names)
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
    for service in services[comparison.names[0]]:
        table.add_row(
            service,
            *(format_interval(services[n][service].loc["utilization"], scale) for n in comparison.names),
        )
    return table


def _edges(comparison: Comparison) -> Table | None:
    """Per guarded call edge, the base's tries, retries, refusals and breaker time (None without any)."""
    edges = edge_frames(comparison.base.summary)
    if not edges:
        return None
    table = Table(title=f"call edges with resilience policies ({comparison.names[0]})")
    table.add_column("edge")
    for label, unit, _ in EDGE_COLUMNS.values():
        table.add_column(f"{label} ({unit})" if unit else label, justify="right")
    for name, frame in edges.items():
        table.add_row(name, *(format_interval(frame.loc[k], s) for k, (_, _, s) in EDGE_COLUMNS.items()))
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
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help="Progress bar [default: on a terminal].")
    ] = None,
) -> None:
    """Simulate SCENARIO (and its variants, side by side), print the summary and write the report folder."""
    loaded = _load(scenario)
    names = variant or [BASE, *loaded.variants]
    unknown = [name for name in names if name != BASE and name not in loaded.variants]
    if unknown:
        known = ", ".join([BASE, *loaded.variants])
        _fail(f"{scenario}: no variant {unknown[0]!r}; known: {known}")
    runs = replications or loaded.replications
    show = sys.stderr.isatty() if progress is None else progress
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=errors,
        disable=not show,
        transient=True,
    ) as bar:
        task = bar.add_task(f"simulating {loaded.name}", total=runs * len(names))

        def tick(name: str, replication: int, done: float) -> None:
            bar.update(task, completed=names.index(name) * runs + replication + done, description=name)

        try:
            comparison = run_comparison(
                loaded, names, replications=runs, seed=seed, progress=tick, base_dir=scenario.parent
            )
        except ScenarioError as error:
            _fail(error.render())
        bar.update(task, description="writing the report")
        from simulator.report import write_report  # matplotlib is loaded only for commands that draw

        folder = out or Path("out") / scenario.stem
        try:
            write_report(comparison, folder, spans=spans)
        except OSError as error:
            _fail(f"cannot write the report to {folder}: {error.strerror or error}")
    console.print(_headline(comparison))
    console.print(_services(comparison))
    edges = _edges(comparison)
    if edges is not None:
        console.print(edges)
    console.print(f"report: {folder / 'report.md'}")


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
