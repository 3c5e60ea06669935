"""Data management in the simulator, checked against theory: a shared database as a bottleneck and a
blast radius, lock contention, pool exhaustion, read replicas and their staleness, snapshots.

Theories used (each test names its own): a service of ``c`` slots fed ``lambda`` calls per second of
mean work ``S`` is busy ``lambda S / c`` of the time; a row written as a Poisson stream of rate
``lambda_k`` and held ``S`` per write is locked ``rho_k = lambda_k S`` of the time, so by PASTA a
write waits with probability ``rho_k`` and the share of writes that wait is
``sum_k p_k rho_k = lambda_w S sum_k p_k**2`` (``p_k``: the row's share of writes); a replica read
with lag ``L`` misses a write of a key written at Poisson rate ``w`` with probability
``1 - E[exp(-w L)]``, ``w m / (1 + w m)`` for an exponential lag of mean ``m``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from simulator.analytic import mmc
from simulator.comparison import run_comparison
from simulator.engine import simulate
from simulator.engine.build import Engine
from simulator.errors import ScenarioError
from simulator.loader import parse_scenario, scenario_from_dict
from simulator.popularity import Popularity
from simulator.records import RunResult
from simulator.report import write_report
from simulator.summary import replication_metrics
from tests.simulator.bundled import SCENARIOS, bundled
from tests.simulator.test_faults import digest

EXP = "exponential"


def _exp(mean: str) -> dict[str, str]:
    return {"dist": EXP, "mean": mean}


def _fixed(value: str) -> dict[str, str]:
    return {"dist": "deterministic", "value": value}


def _scenario(services: dict, routes: dict, workloads: list, **extra: Any) -> dict[str, Any]:
    return {
        "name": "data",
        "duration": "20s",
        "warmup": "1s",
        "seed": 11,
        "services": services,
        "routes": routes,
        "workloads": workloads,
        **extra,
    }


def _poisson(route: str, rate: str, **extra: Any) -> dict[str, Any]:
    return {"route": route, "arrivals": {"process": "poisson", "rate": rate}, **extra}


def _inside(result: RunResult) -> pd.DataFrame:
    ops = result.db_ops
    requests = result.requests
    ids = requests.loc[
        (requests["arrival"] >= result.warmup) & (requests["arrival"] < result.horizon), "request"
    ]
    return ops[ops["request"].isin(ids)]


# -- database per service vs one shared database ------------------------------------------------------


def _two_teams(shared: bool, faults: list | None = None) -> dict[str, Any]:
    """Two routes of 150 requests/s, each with its service writing once: to its own database of 4
    slots, or both to one shared database of the same size."""
    db = {"kind": "database", "concurrency": 4, "service_time": _exp("10ms"), "database": {}}
    app = {"concurrency": 100, "service_time": _exp("2ms")}
    users_db, orders_db = ("shared-db", "shared-db") if shared else ("users-db", "orders-db")
    services = {"users": app, "orders": app}
    services.update({users_db: db, orders_db: db})
    routes = {
        "signup": [{"call": "users", "calls": [{"call": users_db, "op": "write"}]}],
        "order": [{"call": "orders", "calls": [{"call": orders_db, "op": "write"}]}],
    }
    return _scenario(
        services,
        routes,
        [_poisson("signup", "150/s"), _poisson("order", "150/s")],
        faults=faults or [],
    )


def test_a_shared_database_carries_the_load_of_both_and_becomes_the_bottleneck() -> None:
    """Utilization lambda S / c: 150/s x 10 ms / 4 = 0.375 for each own database, 0.75 shared.

    The busy time of n ~ 2850 exponential writes, Poisson in number, has a relative standard error of
    sqrt(2 / n) ~ 2.7%: the tolerance is four of them.
    """
    own = replication_metrics(simulate(scenario_from_dict(_two_teams(shared=False))))
    shared = replication_metrics(simulate(scenario_from_dict(_two_teams(shared=True))))
    for name in ("users-db", "orders-db"):
        assert own[f"{name}.utilization"] == pytest.approx(0.375, rel=0.11)
    assert shared["shared-db.utilization"] == pytest.approx(0.75, rel=0.08)
    # M/M/4 queueing (Erlang C): a write waits 0.34 ms on average at rho = 0.375, 5.1 ms at 0.75
    alone, together = mmc(150, 100, 4).wait, mmc(300, 100, 4).wait
    assert own["orders-db.wait"] == pytest.approx(alone, rel=0.5)
    assert shared["shared-db.wait"] == pytest.approx(together, rel=0.25)
    assert shared["latency_mean"] - own["latency_mean"] == pytest.approx(together - alone, rel=0.3)


@pytest.mark.parametrize("shared", [False, True])
def test_an_outage_of_a_database_fails_the_routes_that_use_it_and_only_those(shared: bool) -> None:
    """A brownout (errors at rate 0.5, 1.2x slower) of the orders' database for the whole run."""
    victim = "shared-db" if shared else "orders-db"
    fault = {"kind": "brownout", "service": victim, "slowdown": 1.2, "rate": 0.5, "at": "0s"}
    calm = simulate(scenario_from_dict(_two_teams(shared)))
    hit = simulate(scenario_from_dict(_two_teams(shared, [fault])))
    requests = hit.requests
    failed = requests.groupby("workload", observed=True)["status"].apply(lambda s: (s != "ok").mean())
    n = requests.groupby("workload", observed=True).size()
    for route in ("signup", "order"):
        if shared or route == "order":  # in the blast radius: half the writes fail (binomial, 4 SE)
            assert failed[route] == pytest.approx(0.5, abs=4 * math.sqrt(0.25 / n[route]))
        else:  # its own database: the same requests, the same latencies, to the bit
            before = calm.requests[calm.requests["workload"] == route].reset_index(drop=True)
            after = requests[requests["workload"] == route].reset_index(drop=True)
            pd.testing.assert_frame_equal(before.drop(columns="request"), after.drop(columns="request"))


# -- lock contention ----------------------------------------------------------------------------------


def _contention(zipf: float, write_share: float) -> tuple[float, float, float]:
    """Measured and predicted share of writes that waited for their row lock, and the mean lock wait.

    300 requests/s; a share ``write_share`` writes (work 4 ms, fixed), the rest read; rows of a
    population of 1000 with Zipf ``zipf`` popularity; the database has slots to spare, so a lock is
    held exactly for the write's work.
    """
    keys = {"count": 1000, "zipf": zipf}
    services = {
        "db": {
            "kind": "database",
            "concurrency": 1000,
            "service_time": _exp("1ms"),
            "database": {"write_time": _fixed("4ms"), "locks": {"keys": keys}},
        }
    }
    steps = [{"probability": write_share, "steps": [{"call": "db", "op": "write"}]}]
    if write_share < 1:
        steps.append({"probability": 1 - write_share, "steps": [{"call": "db", "op": "read"}]})
    result = simulate(
        scenario_from_dict(_scenario(services, {"r": [{"branch": steps}]}, [_poisson("r", "300/s")]))
    )
    metrics = replication_metrics(result)
    p = Popularity(count=1000, zipf=zipf).probabilities
    predicted = 300 * write_share * 0.004 * float((p**2).sum())
    return metrics["db.lock_contention"], predicted, metrics["db.lock_wait"]


@pytest.mark.parametrize(("zipf", "write_share"), [(0.0, 0.5), (1.1, 0.2), (1.1, 0.5), (1.1, 0.9)])
def test_the_share_of_writes_that_wait_for_a_lock_is_the_write_rate_times_hold_times_sum_p2(
    zipf: float, write_share: float
) -> None:
    measured, predicted, _ = _contention(zipf, write_share)
    writes = 19 * 300 * write_share
    # binomial standard error of the measured share, plus 10% for the correlation of nearby writes
    assert measured == pytest.approx(
        predicted, abs=4 * math.sqrt(predicted * (1 - predicted) / writes) + 0.1 * predicted
    )


def test_lock_contention_grows_with_key_skew_and_with_the_share_of_writes() -> None:
    by_skew = [_contention(zipf, 0.5) for zipf in (0.0, 0.8, 1.2)]
    by_writes = [_contention(1.1, share) for share in (0.1, 0.5, 0.9)]
    for series, growth in ((by_skew, 20), (by_writes, 3)):  # theory: x73 and x9
        shares = [share for share, _, _ in series]
        waits = [wait for _, _, wait in series]
        assert shares == sorted(shares)
        assert shares[-1] > growth * shares[0]
        assert waits == sorted(waits)
    assert by_skew[0][0] < 0.01  # uniform over 1000 rows: almost never


# -- connection pool ----------------------------------------------------------------------------------


def _pooled(rate: str) -> RunResult:
    """The api's pool of 2 connections to a database answering in exactly 20 ms: 100 queries/s at
    most; a query waits at most 50 ms for a connection."""
    services = {
        "api": {"concurrency": 1000, "service_time": _fixed("1ms")},
        "db": {
            "kind": "database",
            "concurrency": 100,
            "service_time": _fixed("20ms"),
            "database": {"pool": {"max_connections": 2, "max_wait": "50ms"}},
        },
    }
    routes = {"r": [{"call": "api", "calls": [{"call": "db", "op": "read"}]}]}
    return simulate(scenario_from_dict(_scenario(services, routes, [_poisson("r", rate)])))


def test_below_the_pool_capacity_queries_rarely_wait_and_never_fail() -> None:
    ops = _inside(_pooled("30/s"))
    assert set(ops["outcome"]) == {"ok"}
    assert ops["pool_wait"].max() <= 0.05


def test_beyond_the_pool_capacity_waits_are_bounded_by_max_wait_and_the_rest_fail() -> None:
    result = _pooled("150/s")
    ops = _inside(result)
    exhausted = ops[ops["outcome"] == "pool_exhausted"]
    served = ops[ops["outcome"] == "ok"]
    assert ops["pool_wait"].max() <= 0.05 + 1e-9  # a bounded wait ...
    assert (exhausted["end"] - exhausted["start"]).to_numpy() == pytest.approx(0.05)  # ... then a failure
    # two connections held 20 ms each serve at most 100 queries/s: at least a third of 150/s fails
    assert len(exhausted) / len(ops) >= 1 / 3 - 0.02
    assert len(served) / 19 <= 100 * 1.01
    assert served["pool_wait"].mean() > 0.02  # the served ones queued for a connection first
    metrics = replication_metrics(result)
    assert metrics["pool_exhausted"] == pytest.approx(len(exhausted) / len(ops), abs=0.01)
    assert metrics["db.pool_exhausted"] == metrics["pool_exhausted"]


# -- read replicas ------------------------------------------------------------------------------------


def _replicated(replicas: int, mean_lag: str = "200ms") -> RunResult:
    """200 requests/s: 80% reads (2 ms), 20% writes (4 ms) of 20 keys (Zipf 1); a primary of 4 slots."""
    database: dict[str, Any] = {"read_time": _exp("2ms"), "write_time": _exp("4ms")}
    if replicas:
        database["read_replicas"] = {"count": replicas, "lag": _exp(mean_lag)}
    services = {
        "db": {"kind": "database", "concurrency": 4, "service_time": _exp("1ms"), "database": database}
    }
    steps = [
        {"probability": 0.8, "steps": [{"call": "db", "op": "read"}]},
        {"probability": 0.2, "steps": [{"call": "db", "op": "write"}]},
    ]
    workload = _poisson("r", "200/s", keys={"count": 20, "zipf": 1.0})
    return simulate(scenario_from_dict(_scenario(services, {"r": [{"branch": steps}]}, [workload])))


def test_read_replicas_take_the_reads_off_the_primary() -> None:
    """Primary utilization (160/s x 2 ms + 40/s x 4 ms) / 4 = 0.12 without replicas, 40/s x 4 ms / 4 =
    0.04 with them; the two replicas share 160/s x 2 ms over 8 slots = 0.04."""
    alone = replication_metrics(_replicated(0))
    helped = replication_metrics(_replicated(2))
    assert alone["db.utilization"] == pytest.approx(0.12, rel=0.08)
    assert helped["db.utilization"] == pytest.approx(0.04, rel=0.1)
    assert helped["db/replicas.utilization"] == pytest.approx(0.04, rel=0.1)
    assert helped["db.replica_reads"] == 1.0
    assert "db.staleness_mean" not in alone


def test_replica_reads_are_stale_by_the_lag_and_miss_writes_as_often_as_theory_says() -> None:
    result = _replicated(2, mean_lag="200ms")
    reads = _inside(result)
    reads = reads[reads["op"] == "read"]
    staleness = reads["staleness"].to_numpy()
    half = 1.96 * staleness.std(ddof=1) / math.sqrt(len(staleness))
    assert abs(staleness.mean() - 0.2) < 2 * half  # mean staleness = mean lag, within twice the 95% CI
    # a read of key k misses a write with probability w_k m / (1 + w_k m), w_k = 40/s x p_k, m = 0.2 s
    requests = result.requests.set_index("request")
    keys = requests.loc[reads["request"], "key"].to_numpy()
    p = Popularity(count=20, zipf=1.0).probabilities
    w = 40 * p[keys] * 0.2
    expected = float((w / (1 + w)).mean())
    measured = float(reads["stale"].mean())
    assert measured == pytest.approx(expected, abs=4 * math.sqrt(expected * (1 - expected) / len(reads)))
    assert replication_metrics(result)["db.stale_reads"] == pytest.approx(measured, abs=0.01)


# -- event store snapshots ----------------------------------------------------------------------------


def _event_store(snapshot_every: int) -> pd.DataFrame:
    """One stream: 50 appends/s for 20 s and 20 loads/s (load 1 ms + 0.1 ms per event replayed)."""
    store = {
        "append_time": "2ms",
        "load_time": "1ms",
        "per_event_load": "0.1ms",
        "snapshot_every": snapshot_every,
    }
    services = {
        "events": {
            "kind": "database",
            "concurrency": 1000,
            "service_time": _fixed("1ms"),
            "event_store": store,
        }
    }
    routes = {"append": [{"call": "events", "op": "append"}], "load": [{"call": "events", "op": "load"}]}
    one_key = {"count": 1}
    workloads = [_poisson("append", "50/s", keys=one_key), _poisson("load", "20/s", keys=one_key)]
    ops = simulate(scenario_from_dict(_scenario(services, routes, workloads))).db_ops
    return ops[ops["op"] == "load"]


def test_without_snapshots_rehydration_grows_linearly_with_the_stream() -> None:
    loads = _event_store(0)
    assert loads["work"].to_numpy() == pytest.approx(0.001 + 0.0001 * loads["replayed"].to_numpy())
    # the stream grows by 50 events a second, and each load replays all of it
    slope = np.polyfit(loads["start"], loads["work"], 1)[0]
    assert slope == pytest.approx(50 * 0.0001, rel=0.05)
    assert loads["work"].max() > 0.001 + 0.0001 * 900


def test_snapshots_bound_rehydration_below_base_plus_n_events() -> None:
    loads = _event_store(100)
    assert loads["work"].to_numpy() == pytest.approx(0.001 + 0.0001 * loads["replayed"].to_numpy())
    assert loads["replayed"].max() < 100
    assert loads["work"].max() < 0.001 + 100 * 0.0001
    assert abs(np.polyfit(loads["start"], loads["work"], 1)[0]) < 0.0002  # flat: no growth over time


# -- the schema ---------------------------------------------------------------------------------------

_BAD = """\
name: bad
duration: 10s
services:
  api:
    service_time: {dist: exponential, mean: 1ms}
  store:
    kind: database
    service_time: {dist: exponential, mean: 1ms}
routes:
  r:
    - call: api
      op: read
    - call: store
      op: append
workloads:
  - route: r
    arrivals: {process: poisson, rate: 10/s}
"""


def test_ops_on_services_that_cannot_serve_them_are_reported_with_their_lines() -> None:
    with pytest.raises(ScenarioError) as error:
        parse_scenario(_BAD, source="bad.yaml")
    text = str(error.value)
    assert "• routes.r[0].op (bad.yaml:12): op: read needs a kind: database service; 'api' is service" in text
    assert "• routes.r[1].op (bad.yaml:14): op: append needs an event_store block on 'store'" in text


def test_database_blocks_belong_to_databases_and_queries_call_nobody() -> None:
    data = _scenario(
        {
            "api": {"service_time": _exp("1ms"), "database": {}},
            "db": {"kind": "database", "service_time": _exp("1ms")},
        },
        {"r": [{"call": "db", "op": "read", "calls": [{"call": "api"}]}]},
        [_poisson("r", "1/s")],
    )
    with pytest.raises(ScenarioError) as error:
        scenario_from_dict(data)
    text = str(error.value)
    assert "a 'database' block needs kind: database, not kind: service" in text
    assert "a database read (op: read) makes no nested calls" in text


def test_the_bundled_data_scenario_compares_its_variants() -> None:
    scenario = bundled("data", duration="10s", replications=1)
    assert {"shared-database", "read-replicas", "no-snapshots", "hot-keys"} <= set(scenario.variants)
    metrics = replication_metrics(simulate(scenario))
    assert metrics["error_rate"] < 0.01
    assert metrics["events.rehydration_mean"] < 0.001 + 100 * 0.0001


# -- what does not use databases does not change ------------------------------------------------------


def _with_ops(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The route with ``op: read`` on every call to the shop's ``database``."""
    out = []
    for step in steps:
        step = dict(step)
        if step.get("call") == "database":
            step["op"] = "read"
        for key in ("calls", "parallel", "sequence"):
            if key in step:
                step[key] = _with_ops(step[key])
        out.append(step)
    return out


def test_without_ops_no_database_machinery_is_built() -> None:
    engine = Engine(bundled("shop"), 42, 0)
    assert engine.databases is None
    assert engine.service_names == tuple(bundled("shop").services)


def test_reads_without_pools_locks_or_replicas_are_plain_calls_to_the_bit() -> None:
    """The shop's database calls as ``op: read`` on a database with no pool, locks or replicas: the same
    random numbers, the same events, the same request and span records as the plain calls."""
    plain = simulate(bundled("shop", duration="20s"))
    data = yaml.safe_load((SCENARIOS / "shop.yaml").read_text(encoding="utf-8"))
    routes = {name: _with_ops(steps) for name, steps in data["routes"].items()}
    queried = simulate(bundled("shop", duration="20s", routes=routes))
    assert digest(queried) == digest(plain)
    ops = queried.db_ops
    assert len(ops) == (queried.spans["service"] == "database").sum()
    assert set(ops["op"]) == {"read"}


@pytest.mark.slow  # draws the report's eight figures: about 5 s
def test_the_report_shows_the_databases_of_variants_with_different_services(tmp_path: Path) -> None:
    scenario = bundled("data", duration="3s", warmup="1s", replications=2)
    comparison = run_comparison(scenario, variants=["base", "shared-database", "read-replicas"])
    written = {path.name for path in write_report(comparison, tmp_path)}
    assert {"db_ops.csv", "databases.png"} <= written
    report = (tmp_path / "report.md").read_text()
    assert "## Databases (shared-database)" in report
    assert "| shared-db |" in report
    assert "staleness (ms)" in report
    series = comparison.timeseries
    assert {"db:orders-db", "db:shared-db"} <= set(series["scope"])
    ops = pd.read_csv(tmp_path / "db_ops.csv")
    assert set(ops["variant"]) == {"base", "shared-database", "read-replicas"}
