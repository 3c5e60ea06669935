"""Speed-up of a parameter sweep on a process pool, and the overhead of Dask, on one grid.

The grid: an M/M/c service (10 ms mean service time, 80 requests/s) swept over
``services.api.replicas=1..16`` -- 16 points, one replication each, ``--requests`` requests per
point (default 300,000: about two seconds of simulation and summary per point). Every point does
about the same work, so the ideal speed-up on W workers is W.

The same tasks run on, in order:

- a process pool of 1 worker (the reference: a sweep as one spawned process runs it),
- a process pool of 2 workers (``--workers``),
- a Dask LocalCluster of the same number of single-threaded worker processes (if installed),
- and, for reference, in this process.

Each wall time includes starting and stopping the pool or cluster (spawned workers import the
simulator, about a second each), and is the best of ``--repeat`` runs (default 2): on a shared
machine a run is only ever slowed down by others, so the minimum is the least disturbed figure.
The table gives the wall time, the speed-up over the 1-worker pool and Dask's overhead over the
pool of the same size; every run's results are checked to be identical to the in-process ones.
CPU time of the whole machine is not controlled: on a loaded machine a second worker may not get a
second core, so also read the "cores free" note.

    python benchmarks/sweep.py [--requests N] [--workers W] [--repeat R] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from simulator import scenario_from_dict
from simulator.executors import DaskExecutor, InProcess, MissingDependencyError, ProcessPool
from simulator.sweeps import Sweep, SweepTask, plan_sweep, run_sweep

RATE = 80.0


def tasks(requests: int) -> list[SweepTask]:
    """The 16-point grid, ``requests`` requests per point."""
    scenario = scenario_from_dict(
        {
            "name": "mmc-sweep",
            "duration": f"{requests / RATE}s",
            "warmup": "0s",
            "seed": 1,
            "replications": 1,
            "services": {"api": {"replicas": 1, "service_time": {"dist": "exponential", "mean": "10ms"}}},
            "routes": {"main": [{"call": "api"}]},
            "workloads": [{"route": "main", "arrivals": {"process": "poisson", "rate": f"{RATE}/s"}}],
        }
    )
    return plan_sweep(scenario, ["services.api.replicas=1..16"])


def timed(run: Callable[[], Sweep], repeat: int) -> tuple[float, pd.DataFrame]:
    """The best wall time of ``repeat`` runs, and the results (identical every time)."""
    best, results = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        sweep = run()
        best = min(best, time.perf_counter() - started)
        if results is not None:
            pd.testing.assert_frame_equal(sweep.results, results)
        results = sweep.results
    assert results is not None
    return best, results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300_000, help="requests per point")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2, help="runs per executor; the best counts")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    grid = tasks(args.requests)
    load = os.getloadavg()[0]
    rows: dict[str, dict[str, Any]] = {}
    reference = None
    runs: list[tuple[str, Callable[[], Any] | None]] = [
        ("process pool, 1 worker", lambda: ProcessPool(1)),
        (f"process pool, {args.workers} workers", lambda: ProcessPool(args.workers)),
        (f"Dask LocalCluster, {args.workers} workers", lambda: DaskExecutor(workers=args.workers)),
        ("in this process", InProcess),
    ]
    for name, make in runs:
        try:
            executor = make()
        except MissingDependencyError as error:
            rows[name] = {"wall_seconds": None, "note": str(error)}
            continue
        seconds, results = timed(lambda executor=executor: run_sweep(grid, executor), args.repeat)
        if reference is None:
            reference = results
        pd.testing.assert_frame_equal(results, reference)
        rows[name] = {"wall_seconds": seconds}
    one = rows["process pool, 1 worker"]["wall_seconds"]
    pool = rows[f"process pool, {args.workers} workers"]["wall_seconds"]
    table = Table(title=f"16-point sweep, {args.requests:,} requests per point (identical results on each)")
    for column in ("executor", "wall seconds", "speed-up vs 1-worker pool", "vs pool of same size"):
        table.add_column(column, justify="left" if column == "executor" else "right")
    for name, row in rows.items():
        seconds = row["wall_seconds"]
        if seconds is None:
            table.add_row(name, "unavailable", "", row["note"])
            continue
        row["speedup"] = one / seconds
        same = "" if "workers" not in name or name.startswith("process") else f"{seconds / pool - 1:+.0%}"
        row["overhead_vs_pool"] = seconds / pool - 1 if same else None
        table.add_row(name, f"{seconds:.1f}", f"{one / seconds:.2f}x", same)
    console = Console()
    console.print(table)
    cores = os.cpu_count() or 1
    console.print(
        f"{cores} cores; load average before the runs {load:.2f} (cores free ≈ {max(cores - load, 0):.1f})"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(
                {
                    "requests_per_point": args.requests,
                    "repeat": args.repeat,
                    "load_average": load,
                    "runs": rows,
                },
                file,
                indent=2,
            )


if __name__ == "__main__":
    main()
