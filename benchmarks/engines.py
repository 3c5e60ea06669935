"""Engine speed benchmark: servicelab vs minimal SimPy vs Ciw vs a bare heapq event loop.

Times the same two queueing models in four implementations, in one process, and prints
simulated requests per wall-clock second plus each implementation's speed ratio to the
minimal SimPy model. Every implementation records one row per request (its sojourn time),
and the mean sojourn it observed is printed beside the queueing-theory value so a reader can
check that all four simulate the same system.

Models (model time unit = 1 s):
    mm1     M/M/1, arrival rate 0.9, service rate 1.0 (rho = 0.9); W = 1/(mu - lambda) = 10
    tandem  3 M/M/1 stations in series, arrival rate 0.9, service rates 1.5, 1.2, 1.0;
            W = sum_i 1/(mu_i - lambda) = 15

Usage:
    python benchmarks/engines.py [--customers N] [--repeat K] [--ciw-repeat K] [--seed S]
                                 [--only NAME ...] [--json PATH]

See benchmarks/README.md for how to read the output.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import platform
import random
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ARRIVAL_RATE = 0.9
MODELS: dict[str, tuple[float, ...]] = {
    "mm1": (1.0,),
    "tandem": (1.5, 1.2, 1.0),
}

# A model is (arrival rate, service rates of the stations in series); an implementation is
# fn(arrival_rate, service_rates, customers, seed) -> list of per-customer sojourn times.
Impl = Callable[[float, Sequence[float], int, int], list[float]]


def theory_sojourn(arrival_rate: float, service_rates: Sequence[float]) -> float:
    """Mean sojourn time of a Jackson tandem of M/M/1 stations: sum of 1 / (mu_i - lambda)."""
    return sum(1.0 / (mu - arrival_rate) for mu in service_rates)


# --------------------------------------------------------------------------------------------
# (a) servicelab
# --------------------------------------------------------------------------------------------


def servicelab_available() -> tuple[bool, str]:
    """Return (True, "") if servicelab's engine imports, else (False, reason)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        from simulator import scenario_from_dict, simulate  # noqa: F401
    except Exception as exc:  # ImportError, or an error inside a half-written package
        return False, f"{type(exc).__name__}: {exc}"
    return True, ""


def run_servicelab(
    arrival_rate: float,
    service_rates: Sequence[float],
    customers: int,
    seed: int,
    resilience: dict | None = None,
) -> list[float]:
    """servicelab's simulator: one replication of a scenario with one route calling each station.

    Each station is a service with 1 replica and concurrency 1 (a FIFO single server) and an
    exponential service time; a Poisson workload with `limit` stops arrivals after `customers`
    requests and the horizon is long enough for all of them to finish. Timed: building the
    scenario, simulating, and the per-request DataFrame that `simulate` returns. ``resilience`` is
    the scenario's resilience block, if any.
    """
    from simulator import scenario_from_dict, simulate

    names = [f"s{i}" for i in range(len(service_rates))]
    scenario = scenario_from_dict(
        {
            "name": f"bench-{len(service_rates)}-stations",
            "duration": f"{int(customers / arrival_rate * 10) + 10_000}s",
            "warmup": "0s",
            "seed": seed,
            "services": {
                name: {
                    "replicas": 1,
                    "concurrency": 1,
                    "service_time": {"dist": "exponential", "mean": f"{1.0 / mu!r}s"},
                }
                for name, mu in zip(names, service_rates, strict=True)
            },
            "routes": {"main": [{"call": name} for name in names]},
            "workloads": [
                {
                    "route": "main",
                    "arrivals": {"process": "poisson", "rate": f"{arrival_rate!r}/s"},
                    "limit": customers,
                }
            ],
            **({"resilience": resilience} if resilience else {}),
        }
    )
    result = simulate(scenario, seed=seed)
    requests = result.requests
    ok = requests[requests["status"] == "ok"]
    return ok["latency"].tolist()


GUARD = {
    "defaults": {
        "timeout": "100000s",
        "retry": {"max_attempts": 3, "backoff": "full_jitter"},
        "breaker": {"minimum_calls": 100, "slow_call_duration": "100000s"},
    }
}
"""Policies on every call edge that never fire on these models (W is 10-15 s, and even the rare
excursions of an M/M/1 at rho 0.9 stay far below the timeout and the breaker's slow-call duration):
what they cost to carry."""


def run_servicelab_guarded(
    arrival_rate: float, service_rates: Sequence[float], customers: int, seed: int
) -> list[float]:
    """servicelab with a timeout, a retry policy and a circuit breaker on every call (:data:`GUARD`)."""
    return run_servicelab(arrival_rate, service_rates, customers, seed, GUARD)


# --------------------------------------------------------------------------------------------
# (b) minimal SimPy
# --------------------------------------------------------------------------------------------


def run_simpy(arrival_rate: float, service_rates: Sequence[float], customers: int, seed: int) -> list[float]:
    """Minimal hand-written SimPy model: a generator process per customer.

    Each customer requests a `simpy.Resource(capacity=1)` per station, yields a timeout for its
    exponential service, releases, moves on, and finally appends its sojourn time to a list.
    """
    import simpy

    env = simpy.Environment()
    rng = random.Random(seed)
    stations = [(simpy.Resource(env, capacity=1), mu) for mu in service_rates]
    sojourns: list[float] = []

    def customer():
        start = env.now
        for resource, mu in stations:
            with resource.request() as req:
                yield req
                yield env.timeout(rng.expovariate(mu))
        sojourns.append(env.now - start)

    def source():
        for _ in range(customers):
            yield env.timeout(rng.expovariate(arrival_rate))
            env.process(customer())

    env.process(source())
    env.run()
    return sojourns


# --------------------------------------------------------------------------------------------
# (c) Ciw
# --------------------------------------------------------------------------------------------


def run_ciw(arrival_rate: float, service_rates: Sequence[float], customers: int, seed: int) -> list[float]:
    """Ciw 3.x: external Poisson arrivals at node 1, deterministic routing 1 -> 2 -> ... -> exit.

    Runs `simulate_until_max_customers(customers, method="Finish")` (stops when `customers`
    individuals have left the network) and derives each finished customer's sojourn from
    `get_all_records()`: exit date at the last node minus arrival date at node 1.
    """
    import ciw

    k = len(service_rates)
    routing = [[1.0 if j == i + 1 else 0.0 for j in range(k)] for i in range(k)]
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=arrival_rate)] + [None] * (k - 1),
        service_distributions=[ciw.dists.Exponential(rate=mu) for mu in service_rates],
        number_of_servers=[1] * k,
        routing=routing,
    )
    ciw.seed(seed)
    sim = ciw.Simulation(network)
    sim.simulate_until_max_customers(customers, method="Finish")
    records = sim.get_all_records()
    entered = {r.id_number: r.arrival_date for r in records if r.node == 1}
    return [r.exit_date - entered[r.id_number] for r in records if r.node == k]


# --------------------------------------------------------------------------------------------
# (d) bare heapq event loop
# --------------------------------------------------------------------------------------------

_ARRIVE = 0
_DEPART = 1


def run_heapq(arrival_rate: float, service_rates: Sequence[float], customers: int, seed: int) -> list[float]:
    """Bare event loop, the speed floor: a heap of (time, seq, kind, customer, station) events.

    External arrivals are events; a departure from station i either starts the next queued
    customer there (FIFO deque) or idles it, and moves the departing customer straight into
    station i + 1 (or out of the system, recording its sojourn time).
    """
    rng = random.Random(seed)
    expo = rng.expovariate
    push, pop = heapq.heappush, heapq.heappop
    k = len(service_rates)
    queues: list[deque[int]] = [deque() for _ in range(k)]
    busy = [False] * k
    entered = [0.0] * customers
    sojourns: list[float] = []
    events: list[tuple[float, int, int, int, int]] = []
    seq = 0
    arrived = 0

    push(events, (expo(arrival_rate), seq, _ARRIVE, 0, 0))
    while events:
        now, _, kind, cust, st = pop(events)
        if kind == _ARRIVE:
            entered[cust] = now
            arrived += 1
            if arrived < customers:
                seq += 1
                push(events, (now + expo(arrival_rate), seq, _ARRIVE, arrived, 0))
        else:  # departure from station st
            q = queues[st]
            if q:
                seq += 1
                push(events, (now + expo(service_rates[st]), seq, _DEPART, q.popleft(), st))
            else:
                busy[st] = False
            st += 1
            if st == k:
                sojourns.append(now - entered[cust])
                continue
        # customer `cust` joins station `st`
        if busy[st]:
            queues[st].append(cust)
        else:
            busy[st] = True
            seq += 1
            push(events, (now + expo(service_rates[st]), seq, _DEPART, cust, st))
    return sojourns


# --------------------------------------------------------------------------------------------
# harness
# --------------------------------------------------------------------------------------------

IMPLEMENTATIONS: dict[str, Impl] = {
    "servicelab": run_servicelab,
    "servicelab-guarded": run_servicelab_guarded,
    "simpy-minimal": run_simpy,
    "ciw": run_ciw,
    "heapq-loop": run_heapq,
}
BASELINE = "simpy-minimal"


@dataclass
class Row:
    """One (model, implementation) measurement; wall seconds is the best of `runs`."""

    model: str
    implementation: str
    customers: int | None = None
    runs: int = 0
    wall_seconds: float | None = None
    all_wall_seconds: list[float] = field(default_factory=list)
    cpu_seconds: float | None = None  # process CPU time of the best run; far below wall = busy machine
    requests_per_second: float | None = None
    ratio_vs_simpy: float | None = None
    mean_sojourn: float | None = None
    theory_sojourn: float | None = None
    note: str = ""


def time_once(
    fn: Impl, service_rates: Sequence[float], customers: int, seed: int
) -> tuple[float, float, list[float]]:
    """Run one implementation once; return (wall seconds, CPU seconds, sojourn times)."""
    gc.collect()
    c0 = time.process_time()
    t0 = time.perf_counter()
    sojourns = fn(ARRIVAL_RATE, service_rates, customers, seed)
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return elapsed, cpu, sojourns


def run_benchmark(
    names: list[str],
    customers: int,
    repeat: int,
    ciw_repeat: int,
    seed: int,
    progress: Callable[[str], None],
    skip: dict[str, str] | None = None,
) -> list[Row]:
    """Time every (model, implementation) pair, interleaving repeats so drift hits all alike.

    Implementations named in `skip` (name -> reason) get an untimed row carrying the reason.
    """
    skip = skip or {}
    rows = {
        (model, name): Row(
            model,
            name,
            theory_sojourn=theory_sojourn(ARRIVAL_RATE, rates),
            note=f"unavailable: {skip[name]}" if name in skip else "",
        )
        for model, rates in MODELS.items()
        for name in names
    }
    for rnd in range(max(repeat, ciw_repeat)):
        for model, rates in MODELS.items():
            for name in names:
                row = rows[(model, name)]
                wanted = ciw_repeat if name == "ciw" else repeat
                if rnd >= wanted or row.note.startswith(("error", "unavailable")):
                    continue
                progress(f"round {rnd + 1}: {model} / {name}")
                try:
                    elapsed, cpu, sojourns = time_once(IMPLEMENTATIONS[name], rates, customers, seed)
                except Exception as exc:
                    row.note = f"error: {type(exc).__name__}: {exc}"
                    traceback.print_exc(file=sys.stderr)
                    continue
                row.runs += 1
                row.all_wall_seconds.append(elapsed)
                if row.wall_seconds is None or elapsed < row.wall_seconds:
                    row.wall_seconds, row.cpu_seconds = elapsed, cpu
                # Same seed every round, so these are identical across rounds.
                row.customers = len(sojourns)
                row.mean_sojourn = sum(sojourns) / len(sojourns) if sojourns else None
    for row in rows.values():
        if row.wall_seconds and row.customers:
            row.requests_per_second = row.customers / row.wall_seconds
    for row in rows.values():
        base = rows.get((row.model, BASELINE))
        if row.requests_per_second and base and base.requests_per_second:
            row.ratio_vs_simpy = row.requests_per_second / base.requests_per_second
        if row.runs and row.runs < repeat and not row.note:
            row.note = f"best of {row.runs} run(s), not {repeat}"
        if row.wall_seconds and row.cpu_seconds is not None and row.cpu_seconds < 0.85 * row.wall_seconds:
            share = row.cpu_seconds / row.wall_seconds
            busy = f"best run got {share:.0%} of a CPU: machine busy, figure inflated"
            row.note = f"{row.note}; {busy}" if row.note else busy
    return list(rows.values())


def print_table(rows: list[Row], meta: dict) -> None:
    """Render the results as a rich table, then one line per skipped, failed or short-run row."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=150)
    n = meta["customers"]
    spread = (200_000 / n) ** 0.5  # seed-to-seed sd of the mean scales like 1/sqrt(customers)
    table = Table(
        title=f"Engine speed: {n:,} customers per model, best of {meta['repeat']} "
        f"(Ciw: best of {meta['ciw_repeat']}), seed {meta['seed']}",
        caption="ratio = requests/s ÷ minimal-SimPy requests/s on the same model (>1 = faster).  "
        "mean sojourn in model seconds, (±x%) = deviation from theory; seed-to-seed spread of the mean is "
        f"about ±{4.5 * spread:.1f}% (mm1) and ±{2.5 * spread:.1f}% (tandem), 1 sd.",
    )
    for col in (
        "model",
        "implementation",
        "customers",
        "wall seconds",
        "requests/s",
        "ratio vs minimal SimPy",
        "mean sojourn",
        "theory",
    ):
        table.add_column(col, justify="left" if col in ("model", "implementation") else "right")
    last_model = None
    for row in rows:
        if last_model is not None and row.model != last_model:
            table.add_section()
        last_model = row.model
        theory = f"{row.theory_sojourn:.2f}"
        if row.wall_seconds is None:
            status = "unavailable" if row.note.startswith("unavailable") else "error"
            table.add_row(row.model, row.implementation, "—", "—", status, "—", "—", theory, style="dim")
            continue
        dev = (row.mean_sojourn / row.theory_sojourn - 1) * 100 if row.mean_sojourn else float("nan")
        impl = row.implementation + (
            f" ({row.runs} run{'s' * (row.runs > 1)})" if row.runs < meta["repeat"] else ""
        )
        table.add_row(
            row.model,
            impl,
            f"{row.customers:,}",
            f"{row.wall_seconds:.3f}",
            f"{row.requests_per_second:,.0f}",
            f"{row.ratio_vs_simpy:.2f}x" if row.ratio_vs_simpy else "—",
            f"{row.mean_sojourn:.3f} ({dev:+.1f}%)",
            theory,
        )
    console.print(table)
    for row in rows:
        if row.note:
            console.print(f"  {row.model}/{row.implementation}: {row.note}", style="yellow", highlight=False)


def versions() -> dict[str, str]:
    """Versions of the interpreter and the engines, for the JSON record."""
    out = {"python": platform.python_version(), "implementation": platform.python_implementation()}
    for mod in ("simpy", "ciw", "pandas", "numpy"):
        try:
            out[mod] = getattr(__import__(mod), "__version__", "?")
        except ImportError:
            out[mod] = "missing"
    return out


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the benchmark, print the table and optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=200_000, help="customers per model (default 200000)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per implementation; best is kept (default 3)"
    )
    parser.add_argument(
        "--ciw-repeat", type=int, default=None, help="runs for Ciw, which is slow (default: same as --repeat)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed used by every implementation (default 1)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(IMPLEMENTATIONS),
        default=None,
        help="time only these implementations (the SimPy baseline is always included)",
    )
    parser.add_argument(
        "--json", type=Path, default=None, metavar="PATH", help="also write the figures as JSON"
    )
    args = parser.parse_args(argv)
    if args.customers < 1 or args.repeat < 1:
        parser.error("--customers and --repeat must be >= 1")
    ciw_repeat = args.repeat if args.ciw_repeat is None else max(1, args.ciw_repeat)

    names = list(IMPLEMENTATIONS) if args.only is None else [n for n in IMPLEMENTATIONS if n in args.only]
    if BASELINE not in names:
        names.insert(1 if "servicelab" in names else 0, BASELINE)
    unavailable: dict[str, str] = {}
    ours = [name for name in names if name.startswith("servicelab")]
    if ours:
        ok, reason = servicelab_available()
        if not ok:
            unavailable.update(dict.fromkeys(ours, reason))
            print(
                f"servicelab's engine is unavailable ({reason}); timing the other implementations only.",
                file=sys.stderr,
            )

    meta = {
        "customers": args.customers,
        "repeat": args.repeat,
        "ciw_repeat": ciw_repeat,
        "seed": args.seed,
        "arrival_rate": ARRIVAL_RATE,
        "models": {m: list(r) for m, r in MODELS.items()},
        "platform": platform.platform(),
        "versions": versions(),
        "timer": "time.perf_counter",
    }
    rows = run_benchmark(
        names,
        args.customers,
        args.repeat,
        ciw_repeat,
        args.seed,
        progress=lambda msg: print(msg, file=sys.stderr, flush=True),
        skip=unavailable,
    )
    print_table(rows, meta)
    if args.json:
        payload = {"meta": meta, "unavailable": unavailable, "results": [asdict(r) for r in rows]}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
