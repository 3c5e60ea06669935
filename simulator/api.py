"""The simulator from Python: one call per command, results that render themselves in a notebook.

``simulator.run(path_or_scenario)`` does what ``servicelab sim run`` does and returns a
:class:`RunResults`; ``simulator.compare(path_or_scenario, baseline=...)`` does what ``servicelab sim
compare`` does and returns a :class:`CompareResults`. Both wrap a
:class:`~simulator.comparison.Comparison` (the variants' experiments, run on the same random
numbers) and add what a notebook needs: ``to_frame()`` (the tidy summary: one row per variant and
metric), the raw tables (``requests``, ``timeseries``...), ``plot_*`` helpers that draw on a given
or new :class:`~matplotlib.axes.Axes` and return it (never ``plt.show()``: the notebook shows it),
and ``report(out_dir)``, which writes the same folder as the command line.

``simulator.sweep(path_or_scenario, params=[...])`` does what ``servicelab sim sweep`` does and returns
a :class:`SweepResults` (``to_frame()``, ``results``, ``plot_surface()``, ``smallest_meeting(slo)``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from simulator.comparison import Comparison, Progress, run_comparison
from simulator.loader import load_scenario
from simulator.scenario import Scenario
from simulator.slo import parse_slo, smallest_meeting
from simulator.sweeps import Param, Sweep, plan_sweep, run_sweep

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from simulator.executors import Executor

__all__ = ["CompareResults", "RunResults", "SweepResults", "compare", "run", "sweep"]


@dataclass
class RunResults:
    """A run of a scenario and its variants: tidy frames, plots and the report folder."""

    comparison: Comparison
    wall_time: float | None = None
    """Seconds the simulation took (shown in the report's reproducibility section)."""

    @property
    def names(self) -> list[str]:
        """The variants run, in order (``base`` is the scenario as written)."""
        return self.comparison.names

    def to_frame(self) -> pd.DataFrame:
        """The tidy summary: one row per (variant, metric) with ``mean``, ``low``, ``high`` (95% CI)
        and ``n`` (replications). Metrics are those of :mod:`simulator.summary`, in seconds,
        fractions and per-second rates; per-service ones are named ``<service>.<metric>``."""
        return self.comparison.summary.reset_index()

    def per_replication(self) -> pd.DataFrame:
        """One row per (variant, replication), one column per metric: the values the CIs come from."""
        frames = {name: e.per_replication for name, e in self.comparison.experiments.items()}
        return pd.concat(frames, names=["variant", "replication"]).reset_index()

    @property
    def requests(self) -> pd.DataFrame:
        """Every request (:mod:`simulator.records`), with ``variant`` and ``replication`` columns."""
        return self.comparison.requests

    @property
    def timeseries(self) -> pd.DataFrame:
        """The per-bin series (:mod:`simulator.timeseries`), with ``variant`` and ``replication``."""
        return self.comparison.timeseries

    # Plots: each draws on ``ax`` (a new figure's when None) and returns it; those of a feature the
    # run does not use (brokers, guarded edges, databases, deployments) raise ValueError instead.

    @staticmethod
    def _require(present: bool, what: str) -> None:
        if not present:
            raise ValueError(f"nothing to plot: this run has no {what}")

    def plot_latency_cdf(self, ax: Axes | None = None) -> Axes:
        from simulator.plots import plot_latency_cdf

        return plot_latency_cdf(self.requests, ax)

    def plot_latency_over_time(self, ax: Axes | None = None, log: bool = False) -> Axes:
        from simulator.plots import plot_latency_percentiles

        return plot_latency_percentiles(self.timeseries, ax, log=log)

    def plot_throughput(self, ax: Axes | None = None) -> Axes:
        from simulator.plots import plot_throughput

        return plot_throughput(self.timeseries, ax)

    def plot_utilization(self, ax: Axes | None = None) -> Axes:
        from simulator.plots import plot_utilization

        return plot_utilization(self.timeseries, ax)

    def plot_replicas(
        self, services: list[str] | None = None, ax: Axes | None = None, total: bool = False
    ) -> Axes:
        from simulator.plots import plot_replicas

        return plot_replicas(self.timeseries, services, ax, total=total)

    def plot_cost(self, ax: Axes | None = None) -> Axes:
        from simulator.plots import plot_cost

        return plot_cost(self.timeseries, ax)

    def plot_backlog(self, ax: Axes | None = None) -> Axes:
        from simulator.plots import is_channel, plot_backlog

        self._require(is_channel(self.timeseries).any(), "queues or consumer groups")
        return plot_backlog(self.timeseries, ax)

    def plot_message_lag(self, ax: Axes | None = None) -> Axes:
        from simulator.plots import is_channel, plot_message_lag

        self._require(is_channel(self.timeseries).any(), "queues or consumer groups")
        return plot_message_lag(self.timeseries, ax)

    def plot_tries(self, ax: Axes | None = None) -> Axes:
        from simulator.plots import is_edge, plot_edge_tries

        self._require(is_edge(self.timeseries["scope"]).any(), "call edges with resilience policies")
        return plot_edge_tries(self.timeseries, ax)

    def plot_breakers(self, ax: Axes | None = None) -> Axes:
        from simulator.plots import is_edge, plot_breaker_open

        self._require(is_edge(self.timeseries["scope"]).any(), "call edges with resilience policies")
        return plot_breaker_open(self.timeseries, ax)

    def plot_database_waits(self, ax: Axes | None = None) -> Axes:
        from simulator.plots import plot_database_waits
        from simulator.timeseries import DATABASE_PREFIX

        scopes = self.timeseries["scope"].astype(str)
        self._require(scopes.str.startswith(DATABASE_PREFIX).any(), "database operations")
        return plot_database_waits(self.timeseries, ax)

    def plot_versions(self, ax: Axes | None = None) -> Axes:
        from simulator.plots import is_version, plot_versions

        self._require(is_version(self.timeseries["scope"]).any(), "deployed versions")
        return plot_versions(self.timeseries, ax)

    def report(
        self,
        out_dir: str | Path,
        spans: bool = False,
        traces: int = 0,
        trace_format: str = "otlp",
        trace_sample: str = "first",
    ) -> list[Path]:
        """Write the report folder of ``servicelab sim run`` into ``out_dir``; return the files.

        ``traces``: that many requests of the base variant's first replication exported as
        ``traces.<trace_format>.json`` (``otlp`` or ``zipkin``), sampled ``first``, ``uniform`` or
        ``slowest``."""
        from simulator.report import write_report  # matplotlib only when drawing

        return write_report(
            self.comparison,
            Path(out_dir),
            spans=spans,
            wall_time=self.wall_time,
            traces=traces,
            trace_format=trace_format,
            trace_sample=trace_sample,  # type: ignore[arg-type]
        )


@dataclass
class CompareResults(RunResults):
    """A comparison against a baseline: adds the paired differences and ``compare.csv``."""

    @property
    def baseline(self) -> str:
        """The variant the others are compared with."""
        return self.comparison.reference

    def differences(self, metrics: Sequence[str] | None = None, level: float = 0.95) -> pd.DataFrame:
        """Paired differences from the baseline, tidy (see :meth:`Comparison.paired`): ``variant``,
        ``metric``, ``baseline``, ``difference``, ``low``, ``high``, ``relative``, ``significant``."""
        return self.comparison.paired(metrics, level)

    def report(
        self,
        out_dir: str | Path,
        spans: bool = False,
        traces: int = 0,
        trace_format: str = "otlp",
        trace_sample: str = "first",
    ) -> list[Path]:
        """The report folder of ``run``, plus ``compare.csv`` (:meth:`differences`)."""
        written = super().report(out_dir, spans, traces, trace_format, trace_sample)
        path = Path(out_dir) / "compare.csv"
        self.differences().round(9).to_csv(path, index=False)
        return [*written, path]


def _scenario(scenario_or_path: Scenario | str | Path) -> tuple[Scenario, Path | None]:
    """The scenario and the folder its variants' trace files are relative to (None: the current one)."""
    if isinstance(scenario_or_path, Scenario):
        return scenario_or_path, None
    path = Path(scenario_or_path)
    return load_scenario(path), path.parent


def run(
    scenario_or_path: Scenario | str | Path,
    replications: int | None = None,
    seed: int | None = None,
    variants: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> RunResults:
    """Simulate a scenario (a :class:`Scenario` or a YAML path) and ``variants`` (default: the base
    and every variant) side by side on the same random numbers, like ``servicelab sim run``.

    Raises :class:`~simulator.errors.ScenarioError` for an invalid scenario and
    :class:`~simulator.comparison.UnknownVariantError` for a variant it does not define.
    """
    scenario, base_dir = _scenario(scenario_or_path)
    started = time.perf_counter()
    comparison = run_comparison(scenario, variants, replications, seed, progress, base_dir)
    return RunResults(comparison, wall_time=time.perf_counter() - started)


def compare(
    scenario_or_path: Scenario | str | Path,
    baseline: str | None = None,
    variants: Sequence[str] | None = None,
    replications: int | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
) -> CompareResults:
    """Run ``variants`` (default: all) on the same random numbers and compare them with ``baseline``
    (default: the first run, ``base`` unless ``variants`` says otherwise), like ``servicelab sim
    compare``. The baseline is run too when ``variants`` leaves it out."""
    scenario, base_dir = _scenario(scenario_or_path)
    started = time.perf_counter()
    comparison = run_comparison(scenario, variants, replications, seed, progress, base_dir, baseline)
    return CompareResults(comparison, wall_time=time.perf_counter() - started)


@dataclass
class SweepResults:
    """A parameter sweep: every point x variant x replication, and what to do with it."""

    sweep: Sweep
    wall_time: float | None = None

    @property
    def params(self) -> list[str]:
        return self.sweep.params

    @property
    def results(self) -> pd.DataFrame:
        """Tidy: one row per point, variant and replication (the params, then the metrics)."""
        return self.sweep.results

    def to_frame(self) -> pd.DataFrame:
        """Per point, variant and metric: ``mean``, ``low``, ``high`` (95% CI) and ``n``."""
        return self.sweep.summary

    def smallest_meeting(self, slo: str) -> pd.DataFrame:
        """Per variant, the first point (by the params' values) whose means meet every clause of
        ``slo`` (``"p99<200ms,errors<0.1%"``)."""
        return smallest_meeting(self.sweep.summary, parse_slo(slo), self.params)

    def plot_surface(self, metric: str = "latency_p99", ax: Axes | None = None) -> Axes:
        """``metric`` against the first param, per variant (and second param), knees marked."""
        from simulator.plots import plot_response_surface

        return plot_response_surface(self.sweep.summary, self.params, metric, ax)


def sweep(
    scenario_or_path: Scenario | str | Path,
    params: Sequence[str | Param],
    variants: Sequence[str] | None = None,
    replications: int | None = None,
    seed: int | None = None,
    executor: Executor | None = None,
) -> SweepResults:
    """Run the grid of ``params`` (``"services.api.replicas=1..8"``, ``"workload.rate=50/s,90/s"``) x
    ``variants`` x replications, like ``servicelab sim sweep``, on ``executor`` (default: in this
    process; :mod:`simulator.executors` has a process pool and Dask). Every point shares the seed."""
    scenario, _ = _scenario(scenario_or_path)
    started = time.perf_counter()
    tasks = plan_sweep(scenario, params, variants, replications, seed)
    return SweepResults(run_sweep(tasks, executor), wall_time=time.perf_counter() - started)
