"""Parameter sweeps: a grid of scenario edits x variants x replications, run by any executor.

A **parameter** is a dotted path into the scenario's data and the values it takes:

- ``services.orders.replicas=1..8`` -- the integers 1 to 8 inclusive;
- ``workloads.0.arrivals.rate=100/s,200/s`` -- a list (each item read as YAML: ``2`` is a number,
  ``100/s`` stays text for the schema to parse, as it would in the scenario file);
- ``workload.rate=...`` is an alias of ``workloads.0.arrivals.rate`` (the first workload's rate).

Integer parts of a path index lists. Every path must name a field the scenario has (its data as
validated, defaults included), and every value must pass the schema where the path puts it:
otherwise :func:`parse_param` / :func:`plan_sweep` raise a :class:`ScenarioError` naming the param.

The **grid** is the product of the params' values (a *point*), the variants and the replications.
Each (point, variant, replication) is a :class:`SweepTask` carrying everything it needs -- the
scenario's data, the point's overrides, the variant, the replication index and the seed -- so that
:func:`run_task` gives the same metrics in this process, in a process pool or on a Dask worker.
Every point runs with the same seed, so replication ``i`` of every point and variant sees the same
random numbers wherever the edit does not change them (common random numbers, as in
:mod:`simulator.comparison`). The params override the variant: a variant that sets a swept field
is swept like the base.

Results (:func:`run_sweep` -> :class:`Sweep`): ``Sweep.results`` is tidy, one row per point,
variant and replication: a column per param (its value as written), ``variant``, ``replication``,
``seed``, then one column per metric of :func:`simulator.summary.replication_metrics`.
``Sweep.summary`` has one row per (point, variant, metric): the params, ``variant``, ``metric``,
``mean``, ``low``, ``high`` (95% Student-t interval across replications) and ``n``.

With a ``journal`` path, every finished task is appended to that CSV at once (the tidy columns),
so an interrupted sweep keeps its finished points; ``resume=True`` reads the journal and runs only
the tasks not in it. A journal row is matched by its params' values, variant, replication and seed:
resuming with a changed scenario file would reuse stale rows, so resume only the same sweep.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from simulator.engine import simulate
from simulator.errors import Problem, ScenarioError
from simulator.executors import Executor, InProcess
from simulator.loader import apply_variant, merge_overrides, scenario_from_dict
from simulator.scenario import BASE, Scenario
from simulator.summary import replication_metrics, summarize

__all__ = [
    "ALIASES",
    "KEY_COLUMNS",
    "Param",
    "Sweep",
    "SweepTask",
    "parse_param",
    "plan_sweep",
    "run_sweep",
    "run_task",
]

ALIASES = {"workload.rate": "workloads.0.arrivals.rate"}
"""Short names for common paths."""

KEY_COLUMNS = ("variant", "replication", "seed")
"""The columns (after the params') that identify a row of the results."""

Progress = Callable[[int, int], None]
"""Called with (tasks done, tasks in the sweep)."""


@dataclass(frozen=True)
class Param:
    """One swept field: ``name`` as written, the ``path`` it resolves to, and its ``values``."""

    name: str
    path: tuple[str | int, ...]
    values: tuple[Any, ...]

    def override(self, value: Any) -> dict[Any, Any]:
        """The nested overrides that set this field to ``value`` (integer keys edit lists by position)."""
        nested: Any = value
        for part in reversed(self.path):
            nested = {part: nested}
        return nested


def _fail(text: str, message: str) -> ScenarioError:
    return ScenarioError([Problem((), f"--param {text}: {message}")])


def _values(text: str, spec: str) -> tuple[Any, ...]:
    """``1..8`` (inclusive integer range) or ``a,b,c`` (each item read as YAML)."""
    if ".." in spec and "," not in spec:
        low, _, high = spec.partition("..")
        try:
            first, last = int(low), int(high)
        except ValueError:
            raise _fail(text, f"a range is two integers, 'LOW..HIGH', got {spec!r}") from None
        if last < first:
            raise _fail(text, f"the range {spec!r} is empty (HIGH < LOW)")
        return tuple(range(first, last + 1))
    items = [item.strip() for item in spec.split(",")]
    if not all(items):
        raise _fail(text, f"empty value in {spec!r}; write 'a,b,c' or 'LOW..HIGH'")
    values = []
    for item in items:
        try:
            value = yaml.safe_load(item)
        except yaml.YAMLError:
            value = item
        values.append(item if isinstance(value, dict | list) or value is None else value)
    if len(set(map(str, values))) != len(values):
        raise _fail(text, f"a value is repeated in {spec!r}")
    return tuple(values)


def _resolve(text: str, name: str, data: dict[str, Any]) -> tuple[str | int, ...]:
    """The path of ``name`` in ``data``, every part checked to exist."""
    path: list[str | int] = []
    node: Any = data
    for part in ALIASES.get(name, name).split("."):
        where = ".".join(map(str, path)) or "the top level"
        if isinstance(node, list):
            if not part.lstrip("-").isdigit() or not -len(node) <= int(part) < len(node):
                raise _fail(text, f"{where} is a list of {len(node)}; index it with 0..{len(node) - 1}")
            path.append(int(part))
            node = node[int(part)]
        elif isinstance(node, dict):
            if part not in node:
                known = ", ".join(map(str, node)) or "(nothing)"
                raise _fail(text, f"no field {part!r} under {where}; known: {known}")
            path.append(part)
            node = node[part]
        else:
            raise _fail(text, f"{where} is a value ({node!r}), not a mapping or list")
    return tuple(path)


def parse_param(text: str, scenario: Scenario) -> Param:
    """Read ``PATH=VALUES`` against ``scenario`` and check every value with the schema."""
    name, sep, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    if not sep or not name or not spec:
        raise _fail(text, "write PATH=VALUES, e.g. services.api.replicas=1..8 or workload.rate=100/s,200/s")
    if name in ("variants", "name") or name.startswith("variants."):
        raise _fail(text, f"{name!r} cannot be swept")
    data = scenario_data(scenario)
    param = Param(name, _resolve(text, name, data), _values(text, spec))
    for value in param.values:
        try:
            scenario_from_dict(merge_overrides(data, param.override(value)))
        except ScenarioError as error:
            reasons = "; ".join(f"{p.path}: {p.message}" for p in error.problems)
            raise _fail(text, f"the value {value!r} is refused: {reasons}") from None
    return param


def scenario_data(scenario: Scenario) -> dict[str, Any]:
    """The scenario as plain data (units resolved, trace files absolute), as tasks carry it."""
    return scenario.model_dump(by_alias=True)


@dataclass(frozen=True)
class SweepTask:
    """One replication of one point and variant, self-contained for any executor."""

    index: int  # position in the grid: results are ordered by it
    values: tuple[tuple[str, Any], ...]  # (param name, value as written)
    variant: str
    replication: int
    seed: int
    data: dict[str, Any] = field(repr=False, compare=False)
    overrides: dict[Any, Any] = field(repr=False, compare=False)

    @property
    def key(self) -> tuple[str, ...]:
        """The row's identity in a journal (text, as a CSV gives it back)."""
        return (*(str(v) for _, v in self.values), self.variant, str(self.replication), str(self.seed))

    def scenario(self) -> Scenario:
        """The base scenario (or the variant) with the point's overrides on top."""
        data = self.data
        if self.variant != BASE:
            data = scenario_data(apply_variant(scenario_from_dict(data), self.variant))
        return scenario_from_dict(merge_overrides(data, self.overrides))


def run_task(task: SweepTask) -> dict[str, float]:
    """Simulate one task and return its replication metrics (a top-level function: spawn-safe)."""
    result = simulate(task.scenario(), seed=task.seed, replication=task.replication)
    return replication_metrics(result)


def plan_sweep(
    scenario: Scenario,
    params: Sequence[Param | str],
    variants: Sequence[str] | None = None,
    replications: int | None = None,
    seed: int | None = None,
) -> list[SweepTask]:
    """The grid's tasks, point by point (first param slowest), then variant, then replication.

    ``params`` may be written as text (``"workload.rate=50/s,90/s"``); ``variants`` defaults to the
    base and every variant; ``replications`` and ``seed`` to the scenario's.
    """
    parsed = [p if isinstance(p, Param) else parse_param(p, scenario) for p in params]
    names = [p.name for p in parsed]
    if len(set(names)) != len(names):
        raise _fail(names[0], "a param is given twice")
    chosen = [BASE, *scenario.variants] if variants is None else list(variants) or [BASE]
    unknown = [v for v in chosen if v != BASE and v not in scenario.variants]
    if unknown:
        known = ", ".join([BASE, *scenario.variants])
        raise ScenarioError([Problem(("variants",), f"no variant {unknown[0]!r}; known: {known}")])
    data = scenario_data(scenario)
    seed = scenario.seed if seed is None else seed
    runs = replications or scenario.replications
    tasks = []
    for point in itertools.product(*(p.values for p in parsed)):
        overrides: dict[Any, Any] = {}
        for param, value in zip(parsed, point, strict=True):
            overrides = merge_overrides(overrides, param.override(value))
        for variant in chosen:
            for replication in range(runs):
                values = tuple(zip(names, point, strict=True))
                tasks.append(SweepTask(len(tasks), values, variant, replication, seed, data, overrides))
    return tasks


class _Journal:
    """The results CSV, appended to row by row as tasks finish (rewritten if new metric columns appear)."""

    def __init__(self, path: Path, params: list[str]) -> None:
        self.path = path
        self.head = [*params, *KEY_COLUMNS]
        self.columns: list[str] = []
        self.rows: list[dict[str, Any]] = []

    def read(self) -> dict[tuple[str, ...], dict[str, float]]:
        """Rows already in the file, by key; the file is kept and extended."""
        if not self.path.exists():
            return {}
        with self.path.open(newline="", encoding="utf-8") as file:
            reader = csv.DictReader(file)
            header = reader.fieldnames or []
            if header[: len(self.head)] != self.head:
                raise ScenarioError(
                    [Problem((), f"cannot resume from {self.path}: it has the columns of another sweep")]
                )
            self.columns = list(header)
            self.rows = list(reader)
        return {
            tuple(row[c] for c in self.head): {
                m: float(row[m]) if row[m] not in ("", None) else math.nan for m in header[len(self.head) :]
            }
            for row in self.rows
        }

    def append(self, task: SweepTask, metrics: dict[str, float]) -> None:
        row = dict(zip(self.head, task.key, strict=True)) | {m: repr(float(v)) for m, v in metrics.items()}
        self.rows.append(row)
        new = [m for m in metrics if m not in self.columns]
        if not self.columns or new:
            self.columns = self.columns or list(self.head)
            self.columns += [m for m in new if m not in self.columns]
            self._write("w", self.rows)
        else:
            self._write("a", [row])

    def _write(self, mode: str, rows: list[dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open(mode, newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, self.columns, restval="")
            if mode == "w":
                writer.writeheader()
            writer.writerows(rows)
            file.flush()


@dataclass
class Sweep:
    """A finished sweep: its params and tasks, and each task's metrics."""

    params: list[str]
    tasks: list[SweepTask] = field(repr=False)
    metrics: dict[int, dict[str, float]] = field(repr=False)  # by task index
    ran: int = 0  # tasks simulated by this call (the others came from the journal)

    @property
    def results(self) -> pd.DataFrame:
        """Tidy: one row per point, variant and replication (see the module docstring)."""
        rows = [
            {**dict(t.values), "variant": t.variant, "replication": t.replication, "seed": t.seed}
            | self.metrics[t.index]
            for t in self.tasks
        ]
        return pd.DataFrame(rows)

    @property
    def summary(self) -> pd.DataFrame:
        """Per point, variant and metric: ``mean``, ``low``, ``high``, ``n`` across replications."""
        results = self.results
        group = [*self.params, "variant"]
        metrics = [c for c in results.columns if c not in (*group, "replication", "seed")]
        frames = []
        for key, rows in results.groupby(group, sort=False):
            table = summarize(rows[metrics].reset_index(drop=True)).reset_index(names="metric")
            for name, value in zip(group, key, strict=True):
                table[name] = value
            frames.append(table)
        return pd.concat(frames, ignore_index=True)[[*group, "metric", "mean", "low", "high", "n"]]


def run_sweep(
    tasks: Sequence[SweepTask],
    executor: Executor | None = None,
    progress: Progress | None = None,
    journal: Path | None = None,
    resume: bool = False,
) -> Sweep:
    """Run ``tasks`` on ``executor`` (default: in this process) and gather their metrics.

    ``journal``: a CSV that every finished task is appended to; with ``resume`` its rows are kept
    and their tasks not run again (without ``resume`` the file is started afresh).
    """
    params = [name for name, _ in tasks[0].values] if tasks else []
    metrics: dict[int, dict[str, float]] = {}
    book = None if journal is None else _Journal(journal, params)
    if book is not None:
        if resume:
            done = book.read()
            for task in tasks:
                if task.key in done:
                    metrics[task.index] = done[task.key]
        elif book.path.exists():
            book.path.unlink()
    todo = [t for t in tasks if t.index not in metrics]
    total = len(tasks)
    if progress is not None:
        progress(len(metrics), total)

    def finished(task: SweepTask, result: dict[str, float]) -> None:
        metrics[task.index] = result
        if book is not None:
            book.append(task, result)
        if progress is not None:
            progress(len(metrics), total)

    (executor or InProcess()).map(run_task, todo, finished)
    # Metrics read back from a journal lack nothing, but a metric absent from a row is NaN there.
    columns = list(dict.fromkeys(m for r in metrics.values() for m in r))
    full = {i: {m: r.get(m, math.nan) for m in columns} for i, r in metrics.items()}
    return Sweep(params, list(tasks), full, ran=len(todo))
