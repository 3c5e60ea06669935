"""What the API gateway adds to a request, next to nginx as a reverse proxy, on the same service.

One run starts a live stack (``live.supervisor.Stack``: registry, users, inventory, orders and the
gateway as processes on 127.0.0.1, one instance each, the bundled gateway.yaml) and Debian's
``nginx`` as a plain reverse proxy in front of the same inventory instance (a minimal nginx.conf in
a temporary folder: one worker, upstream keep-alive, no access log). Then the same open-loop load
(``live.loadgen``: Poisson arrivals at each ``--rate``, fixed in advance, latency from the scheduled
time, so a slow target meets the same arrivals) is sent for ``--duration`` seconds, with the same
schedule, four ways:

- ``direct``: ``GET /inventory/items/<sku>`` on inventory itself,
- ``nginx``: the same path through nginx,
- ``bare aiohttp``: ``GET /api/inventory/items/<sku>`` through a bare aiohttp reverse proxy on uvloop
  (``benchmarks/bare_proxy.py``: no routing, auth, limits, tracing, metrics or logs) -- the floor any
  Python gateway stands on;
- ``gateway``: ``GET /api/inventory/items/<sku>`` through the gateway (public route: no token; not
  cached -- the config caches only the catalogue list; rate limit, bulkhead, breaker, retry budget,
  deadline, registry discovery, tracing, metrics and access log all on the path as in the stack).

Each target gets a one-second warm-up at the same rate first (connections opened, caches filled),
then ``--repeat`` measured runs in rotation (direct, nginx, bare aiohttp, gateway, direct, ...) so a
disturbance of the machine hits all four alike; the figures are each target's best run: fewest failed
requests, then lowest p50 (on a shared machine a run is only ever slowed down by others). The
table gives throughput (answered requests per second), p50 and p99 latency, and what each proxy
adds to them over direct. The load generator runs in this process, so its own lag is part of every
latency alike (the "lag" column). The last column is the CPU time the first process on the path
(inventory, nginx, the bare proxy, the gateway) spent per request sent: the cost of the hop, which
unlike latency hardly depends on what else the machine runs.

    python benchmarks/gateway.py [--rate 500 [100 ...]] [--duration 10] [--repeat 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from rich.console import Console
from rich.table import Table

from live.common.sockets import free_port
from live.inventory.store import DEFAULT_CATALOGUE
from live.loadgen import DROPPED, Limits, LoadResult, generator_metrics, load_metrics, plan_load, run_plan
from live.supervisor import Stack
from live.supervisor.prepare import PREPARE
from live.supervisor.processes import terminate

SKU = DEFAULT_CATALOGUE[0].sku
WARMUP_SECONDS = 1.0

NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream inventory {{
        server {upstream};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://inventory;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


@contextlib.contextmanager
def nginx_proxy(upstream: str, folder: Path) -> Iterator[tuple[str, int]]:
    """nginx in the foreground, proxying 127.0.0.1:<free port> to ``upstream`` (host:port); URL and pid."""
    binary = shutil.which("nginx")
    if binary is None:
        raise SystemExit("nginx is not installed (Debian: apt-get install nginx-light or nginx)")
    port = free_port()  # nginx binds it itself
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=folder, upstream=upstream, port=port), encoding="utf-8")
    # -e: the error log before the config is read (the default path is /var/log/nginx, root's)
    process = subprocess.Popen(
        [binary, "-p", str(folder), "-c", str(conf), "-e", str(folder / "startup.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while not _answers(f"{url}/inventory/items/{SKU}"):
            if process.poll() is not None or time.monotonic() > deadline:
                log = (
                    (folder / "error.log").read_text(errors="replace")
                    if (folder / "error.log").exists()
                    else ""
                )
                raise SystemExit(
                    f"nginx (exit code {process.poll()}) did not answer 200 at {url}: {log[-500:]}"
                )
            time.sleep(0.05)
        yield url, process.pid
    finally:
        terminate(process, grace=5)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return answer.status == 200
    except OSError:
        return False


async def measure(url: str, rate: float, duration: float, seed: int) -> LoadResult:
    """One open-loop run of ``GET url`` at ``rate`` per second for ``duration`` seconds."""

    async def get(session: aiohttp.ClientSession) -> int:
        async with session.get(url) as answer:
            await answer.read()
            return answer.status

    async def setup(session: aiohttp.ClientSession) -> dict[str, Any]:
        return {"get": get}

    plan = plan_load(rate, duration, {"get": 1.0}, seed=seed)
    return await run_plan(plan, setup, Limits(max_in_flight=1000, timeout=5.0))


def figures(result: LoadResult) -> dict[str, Any]:
    """Throughput, p50/p99 (ms), the error rate (and what the failures were) and the generator's lag."""
    metrics, generator = load_metrics(result), generator_metrics(result)
    frame = result.requests
    failed = frame[frame["outcome"] != "ok"].groupby(["outcome", "status"], observed=True).size()
    return {
        "failures": {f"{outcome} {status}": int(count) for (outcome, status), count in failed.items()},
        "requests": metrics["requests"],
        "sent": int((frame["outcome"] != DROPPED).sum()),
        "throughput": metrics["throughput"],
        "error_rate": metrics["error_rate"],
        "p50_ms": metrics["latency_p50"] * 1000,
        "p99_ms": metrics["latency_p99"] * 1000,
        "lag_p50_ms": float((frame["sent"] - frame["scheduled"]).dropna().median() * 1000),
        "lag_p99_ms": generator["lag_p99"] * 1000,
        "dropped": generator["dropped"],
    }


def _least_disturbed(run: dict[str, Any]) -> tuple[float, float]:
    """Fewest failed requests first, then the lowest p50 (a run without answers has none: last)."""
    p50 = run["p50_ms"]
    return run["error_rate"], p50 if p50 == p50 else math.inf


@dataclass(frozen=True)
class Target:
    """Where a run sends its requests, and the process that answers them first (for its CPU time)."""

    url: str
    pid: int


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


async def benchmark(targets: dict[str, Target], rate: float, duration: float, repeat: int) -> dict[str, Any]:
    """Warm every target up, then ``repeat`` rounds of one run each; every run's figures and the best.

    A run's ``cpu_ms_per_request`` is the CPU time (user + system) the target's first process spent
    during the run per request sent: inventory's for direct, the proxy's otherwise.
    Unlike latency it hardly depends on what else the machine is doing.
    """
    for target in targets.values():
        await measure(target.url, rate, WARMUP_SECONDS, seed=0)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    for round_number in range(1, repeat + 1):
        for name, target in targets.items():
            before = cpu_seconds(target.pid)
            found = figures(await measure(target.url, rate, duration, seed=round_number))
            found["cpu_ms_per_request"] = (cpu_seconds(target.pid) - before) * 1000 / max(found["sent"], 1)
            runs[name].append(found)
    best = {name: min(found, key=_least_disturbed) for name, found in runs.items()}
    for name in targets:
        for q in ("p50_ms", "p99_ms"):
            best[name][f"added_{q}"] = best[name][q] - best["direct"][q]
    return {"best": best, "runs": runs}


@contextlib.contextmanager
def bare_proxy(upstream: str) -> Iterator[tuple[str, int]]:
    """``benchmarks/bare_proxy.py`` in front of ``upstream`` (a base URL); its URL and pid."""
    script = Path(__file__).with_name("bare_proxy.py")
    process = subprocess.Popen([sys.executable, str(script), upstream], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url:
            raise SystemExit(f"the bare aiohttp proxy did not start (exit code {process.wait()})")
        yield url, process.pid
    finally:
        terminate(process, grace=5)


def table(best: dict[str, dict[str, float]], rate: float, duration: float, repeat: int) -> Table:
    out = Table(title=f"GET /inventory/items/{SKU} at {rate:g} req/s, {duration:g} s, best of {repeat}")
    columns = ("target", "req/s", "errors", "p50 ms", "p99 ms", "added p50", "added p99", "lag p99")
    for column in (*columns, "CPU ms/req"):
        out.add_column(column, justify="left" if column == "target" else "right")
    for name, row in best.items():
        added = (
            ("", "") if name == "direct" else (f"{row['added_p50_ms']:+.2f}", f"{row['added_p99_ms']:+.2f}")
        )
        out.add_row(
            name,
            f"{row['throughput']:.1f}",
            f"{row['error_rate']:.2%}",
            f"{row['p50_ms']:.2f}",
            f"{row['p99_ms']:.2f}",
            *added,
            f"{row['lag_p99_ms']:.2f}",
            f"{row['cpu_ms_per_request']:.3f}",
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rate",
        type=float,
        nargs="+",
        default=[500.0],
        help="requests per second, one or more (500)",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (default 10)")
    parser.add_argument("--repeat", type=int, default=3, help="measured runs per target (default 3)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()
    rates = sorted(set(args.rate))  # lowest first: an overload at a high rate cannot spill into a low one
    if args.repeat < 1 or not all(rate > 0 for rate in rates) or not args.duration > WARMUP_SECONDS:
        parser.error("--repeat must be >= 1, every --rate > 0 and --duration > 1 s")
    console = Console(stderr=True)
    found: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="servicelab-gateway-bench-") as folder:
        stack = Stack(Path(folder) / "stack", parent_pid=os.getpid(), prepare=PREPARE)
        try:
            state = stack.up()
            (inventory,) = state.of("inventory")
            (gateway,) = state.of("gateway")
            nginx_dir = Path(folder) / "nginx"
            nginx_dir.mkdir()
            with (
                nginx_proxy(f"127.0.0.1:{inventory.port}", nginx_dir) as (nginx, nginx_pid),
                bare_proxy(inventory.url) as (bare, bare_pid),
            ):
                targets = {
                    "direct": Target(f"{inventory.url}/inventory/items/{SKU}", inventory.pid),
                    "nginx": Target(f"{nginx}/inventory/items/{SKU}", nginx_pid),
                    "bare aiohttp": Target(f"{bare}/api/inventory/items/{SKU}", bare_pid),
                    "gateway": Target(f"{gateway.url}/api/inventory/items/{SKU}", gateway.pid),
                }
                for rate in rates:
                    console.print(
                        f"{rate:g} req/s: {', '.join(targets)}, {args.repeat} x {args.duration:g} s each"
                    )
                    found[f"{rate:g}"] = asyncio.run(benchmark(targets, rate, args.duration, args.repeat))
        finally:
            stack.down()
    out = Console(width=120)
    for rate in rates:
        best = found[f"{rate:g}"]["best"]
        out.print(table(best, rate, args.duration, args.repeat))
        for name, row in best.items():
            if row["failures"]:
                # a proxy that fails requests (breaker open, bulkhead full: overloaded) is not just slower
                out.print(f"{name}: failed requests {row['failures']} -- its latencies are not comparable")
    if args.json:
        settings = {"duration": args.duration, "repeat": args.repeat, "sku": SKU, "cpus": os.cpu_count()}
        document = {"settings": settings, "rates": found, "load_average": os.getloadavg()}
        args.json.write_text(json.dumps(document, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
