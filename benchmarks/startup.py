"""How long ``servicelab live up`` takes to a ready stack, next to what one service process costs.

The issue's target is a stack ready in under 10 s on a laptop, as plain Python processes. A test
cannot hold that line (the test suite shares the machine's cores with itself), so it is measured
here, on its own:

- ``one import``: a fresh interpreter importing the heaviest service (``live.orders.app``: FastAPI,
  pydantic, SQLite, OpenTelemetry) and exiting -- the least any instance of the stack costs before it
  can listen;
- ``live up``: ``live.supervisor.Stack.up`` with the default replicas (one instance of each of the
  seven services), from the first spawn until every ``/ready`` answers 200, then ``down``.

Each is the best of ``--repeat`` runs (on a shared machine a run is only ever slowed down by
others). The ratio ``live up / one import`` says how well the supervisor overlaps the processes'
start-up: seven processes on N cores cannot beat 7/N; much above it means the stack waits on
something other than the interpreters (a dependency, a sleep in a readiness loop).

    python benchmarks/startup.py [--repeat 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from live.supervisor import SERVICES, Stack
from live.supervisor.prepare import PREPARE

TARGET_SECONDS = 10.0


def one_import() -> float:
    """Seconds for a fresh interpreter to import the orders service and exit."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import live.orders.app"], check=True)
    return time.perf_counter() - started


def stack_up(folder: Path) -> float:
    """Seconds from ``Stack.up`` being called to every instance ready; the stack is stopped after."""
    stack = Stack(folder, parent_pid=os.getpid(), prepare=PREPARE)
    started = time.perf_counter()
    try:
        stack.up()
        return time.perf_counter() - started
    finally:
        stack.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each, the best reported (default 5)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    console = Console(stderr=True)
    imports: list[float] = []
    ups: list[float] = []
    with tempfile.TemporaryDirectory(prefix="servicelab-startup-bench-") as folder:
        for run in range(args.repeat):
            console.print(f"run {run + 1}/{args.repeat}")
            imports.append(one_import())
            ups.append(stack_up(Path(folder) / f"stack-{run}"))
    cores = os.cpu_count() or 1
    figures = {
        "one_import_seconds": min(imports),
        "live_up_seconds": min(ups),
        "live_up_worst_seconds": max(ups),
        "ratio": min(ups) / min(imports),
        "floor_ratio": len(SERVICES) / cores,
        "cores": cores,
        "target_seconds": TARGET_SECONDS,
    }
    table = Table(title=f"live up: {len(SERVICES)} services on {cores} cores, best of {args.repeat}")
    table.add_column("what")
    table.add_column("best s", justify="right")
    table.add_column("worst s", justify="right")
    table.add_row("one import (live.orders.app)", f"{min(imports):.2f}", f"{max(imports):.2f}")
    table.add_row("live up (every /ready 200)", f"{min(ups):.2f}", f"{max(ups):.2f}")
    out = Console(width=120)
    out.print(table)
    out.print(
        f"live up / one import = {figures['ratio']:.1f} "
        f"(floor with {len(SERVICES)} processes on {cores} cores: {figures['floor_ratio']:.1f}); "
        f"target: ready in under {TARGET_SECONDS:g} s -- {'met' if min(ups) < TARGET_SECONDS else 'NOT met'}"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
