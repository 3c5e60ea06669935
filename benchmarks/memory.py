"""Peak memory of a 1,000,000-request run of the bundled shop scenario.

Runs in a fresh child process (so the parent's imports and earlier work do not count): one
replication of ``simulator/scenarios/shop.yaml`` stretched to about a million requests, then its
summary and time series, as ``servicelab sim run`` computes them. Prints the peak resident set
size (``ru_maxrss``) beside the 1.5 GB budget, the request and span counts, and the wall time.

    python benchmarks/memory.py [--requests N]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

BUDGET_BYTES = 1.5e9
SHOP = Path(__file__).parents[1] / "simulator" / "scenarios" / "shop.yaml"


def measure(requests: int) -> dict[str, float]:
    """Inside the child: simulate about ``requests`` requests of the shop and summarize them."""
    from simulator import load_scenario, scenario_from_dict
    from simulator.experiment import run_experiment

    shop = load_scenario(SHOP)
    offered = 250 + 60 + (20 * 10 + 60 * 3) / 13  # browse + profile + the MMPP checkout's mean rate, per s
    data = shop.model_dump(by_alias=True, exclude={"variants"})
    data.update(duration=requests / offered, warmup=0.0, replications=1, sample_interval=10.0)
    started = time.perf_counter()
    experiment = run_experiment(scenario_from_dict(data))
    summary = experiment.summary
    series = experiment.timeseries
    elapsed = time.perf_counter() - started
    result = experiment.results[0]
    return {
        "requests": result.n_requests,
        "spans": result.recorder.n_spans,
        "throughput": float(summary.loc["throughput", "mean"]),
        "timeseries_rows": len(series),
        "wall_seconds": elapsed,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.requests)))
        return
    child = subprocess.run(
        [sys.executable, __file__, "--child", "--requests", str(args.requests)],
        check=True,
        capture_output=True,
        text=True,
    )
    figures = json.loads(child.stdout)
    peak = figures["peak_rss_bytes"]
    verdict = "within" if peak <= BUDGET_BYTES else "OVER"
    print(
        f"shop scenario, {figures['requests']:,} requests ({figures['spans']:,} spans) in "
        f"{figures['wall_seconds']:.1f} s wall: peak resident memory {peak / 1e9:.2f} GB, "
        f"{verdict} the {BUDGET_BYTES / 1e9:.1f} GB budget"
    )


if __name__ == "__main__":
    main()
