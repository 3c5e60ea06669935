"""From records to the numbers people quote, with confidence intervals across replications.

Only requests that *arrive* inside the observation window ``[warmup, horizon)`` count (every one of
them finished: the engine drains the system after the horizon), so the warm-up transient does not
bias the steady-state figures. Latency statistics are over answered requests (``ok`` or
``fallback``); failures show up in ``error_rate``.

Per replication, :func:`replication_metrics` gives one flat mapping from metric name to value:
``throughput`` (answered requests per second), ``error_rate`` (any failure, rate-limit refusals
included), the share of requests of each outcome other than ``ok`` (``limited``: refused with 429;
``fallback``, ``timeout``, ``rejected``, ``shed``, ``concurrency_limited``, ``breaker_open``,
``bulkhead_full``, ``pool_exhausted``: see :mod:`simulator.records`), ``latency_mean``, ``latency_p50``,
``latency_p90``, ``latency_p99``, ``latency_p999`` (seconds), and per service ``<service>.utilization``
(fraction of slots in use), ``<service>.arrival_rate`` (calls per second), ``<service>.wait`` and
``<service>.sojourn`` (mean seconds queued, and queued plus served), ``<service>.p_wait``
(fraction of calls that had to queue), ``<service>.in_service`` (time-average
number of calls in the service: Little's L), ``<service>.rejected`` (fraction of calls turned away by a
full queue), ``<service>.limited`` (refused by a gateway rate limit) and ``<service>.cache_hits``
(answered by a gateway cache, alone or by sharing an in-flight fetch), ``<service>.replicas_mean``
(time-average replicas getting traffic), ``<service>.replica_seconds`` (replica-seconds paid for in the
window: from each replica's start to its stop, start-up and drain included) and ``cost`` (the sum over
services of replica-seconds / 3600 x ``price_per_replica_hour``). Utilization is busy slot-seconds
over the slot-seconds of the replicas ready or draining (see :mod:`simulator.provisioning`): with a
fixed number of replicas, busy slots / (replicas x concurrency). Per call edge with resilience
policies (``caller->callee``): ``<edge>.tries`` (tries sent per call: the edge's work amplification),
``<edge>.retries`` and ``<edge>.hedges`` (per call), ``<edge>.timeouts`` (share of sent tries that
timed out), ``<edge>.refused`` (share of tries refused by the edge's bulkhead or breaker) and
``<edge>.breaker_open`` (fraction of the window the breaker spent open).

With message brokers (:mod:`simulator.messaging`), per channel (a queue, or ``topic:group``), over the
messages published in the window: ``<channel>.publish_rate`` and ``<channel>.ack_rate`` (per
second), ``<channel>.backlog_mean`` (time-average number of messages published and not yet settled:
ready plus unacknowledged; a group's lag), ``<channel>.wait_mean`` (publication to first delivery,
seconds), ``<channel>.lag_mean`` and ``<channel>.lag_p99`` (publication to acknowledgement of acked
messages, seconds), ``<channel>.deliveries`` (mean deliveries per message), and the shares of
messages ``<channel>.redelivered`` (delivered more than once), ``<channel>.dead_lettered``,
``<channel>.expired`` and ``<channel>.pending`` (not settled when the run ended). End to end,
``completion_mean`` and ``completion_p99`` (seconds) time a request's whole business flow: from its
arrival to the later of its answer and the acknowledgement of the last message its flow published
(directly, or from a consumer's handling), over requests whose flow completed (answered, and every
message acked); ``completed`` is the share of requests whose flow completed. A request that
publishes nothing completes with its answer, so the figures compare synchronous and asynchronous
designs of the same flow.

Per database with ``op``
calls (:mod:`simulator.database`; from the ``db_ops`` records of the window's requests):
``<db>.ops_per_s``, ``<db>.pool_wait`` and ``<db>.pool_wait_p99`` (seconds waiting for a connection,
over all operations), ``<db>.pool_exhausted`` (share of operations that gave up waiting); with row locks
``<db>.lock_wait``, ``<db>.lock_wait_p99`` (seconds, over writes) and ``<db>.lock_contention`` (share
of writes that had to wait); with read replicas ``<db>.replica_reads`` (share of reads they served),
``<db>.staleness_mean``, ``<db>.staleness_p99`` (seconds, over replica reads) and ``<db>.stale_reads``
(share of replica reads that missed a committed write); with an event store ``<db>.rehydration_mean``,
``<db>.rehydration_p99`` (seconds a load worked) and ``<db>.replayed_mean`` (events replayed per load).
With deployments (:mod:`simulator.releases`), per ``<service>@<version>``: ``share`` (of the
service's calls), ``error_rate`` and ``sojourn``; per deployed service ``rolled_back`` and
``rollout_time``.

Per CQRS read model (a database that a projector -- a consumer whose route writes to it -- keeps up
to date; :func:`simulator.topology.read_models`): ``<db>.read_model_staleness_mean`` and
``<db>.read_model_staleness_p99`` (seconds from an event's publication until the projector applied
it, i.e. acknowledged it after its write was answered; over the acked messages published in the
window) and ``<db>.stale_queries`` (share of the window's reads of the read model, by requests with a
key, that missed an event of their key published before the read started: one not yet applied then).
:func:`summarize` turns one row per replication into ``mean``, ``low`` and ``high`` (a Student-t
confidence interval, 95% by default) and ``n``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from simulator.provisioning import provisioning
from simulator.records import ANSWERED, BREAKER_STATES, RunResult
from simulator.releases import version_metrics
from simulator.timeseries import level_average

__all__ = [
    "FAILURE_SHARES",
    "PERCENTILES",
    "completion_times",
    "confidence_interval",
    "database_metrics",
    "message_metrics",
    "read_model_metrics",
    "replication_metrics",
    "request_metrics",
    "summarize",
]

PERCENTILES = {"latency_p50": 50.0, "latency_p90": 90.0, "latency_p99": 99.0, "latency_p999": 99.9}
FAILURE_SHARES = (
    "limited",
    "fallback",
    "timeout",
    "rejected",
    "shed",
    "concurrency_limited",
    "breaker_open",
    "bulkhead_full",
    "pool_exhausted",
)
"""Request outcomes whose share is a metric of its own."""
_NOT_SENT = ("breaker_open", "bulkhead_full")


def replication_metrics(result: RunResult) -> dict[str, float]:
    """The headline figures of one replication (see the module docstring for each name)."""
    start, stop = result.warmup, result.horizon
    window = stop - start
    requests = result.requests
    inside = requests[(requests["arrival"] >= start) & (requests["arrival"] < stop)]
    metrics = request_metrics(inside["status"], inside["latency"], window)
    spans = result.spans
    scaled = set(result.scaling["service"].astype(str))
    cost = 0.0
    for name, group in spans.groupby("service", observed=False, sort=False):
        calls = group[(group["arrival"] >= start) & (group["arrival"] < stop)]
        busy = level_average(group["start"].to_numpy(), group["end"].to_numpy(), np.array([start, stop]))[0]
        present = level_average(
            group["arrival"].to_numpy(), group["end"].to_numpy(), np.array([start, stop])
        )[0]
        metrics[f"{name}.arrival_rate"] = len(calls) / window
        if str(name) in scaled:
            held = provisioning(result, str(name), np.array([start, stop]))
            metrics[f"{name}.utilization"] = busy / held.slots[0] if held.slots[0] > 0 else math.nan
            replicas_mean, paid = float(held.serving[0]), float(held.total[0]) * window
        else:
            metrics[f"{name}.utilization"] = busy / result.capacity[str(name)]
            replicas_mean = float(result.replicas.get(str(name), 0))
            paid = replicas_mean * window
        metrics[f"{name}.replicas_mean"] = replicas_mean
        metrics[f"{name}.replica_seconds"] = paid
        cost += paid / 3600 * result.prices.get(str(name), 0.0)
        metrics[f"{name}.in_service"] = present
        metrics[f"{name}.wait"] = float(calls["wait"].mean()) if len(calls) else math.nan
        metrics[f"{name}.p_wait"] = float((calls["wait"] > 0).mean()) if len(calls) else math.nan
        metrics[f"{name}.sojourn"] = float(calls["sojourn"].mean()) if len(calls) else math.nan
        metrics[f"{name}.rejected"] = _share(calls["status"], ("rejected",))
        metrics[f"{name}.limited"] = _share(calls["status"], ("limited",))
        metrics[f"{name}.cache_hits"] = _share(calls["status"], ("cached", "coalesced"))
    metrics["cost"] = cost
    metrics.update(edge_metrics(result, inside["request"]))
    if result.channels:
        metrics.update(message_metrics(result))
        metrics.update(completion_metrics(result, inside))
    if result.callers:
        metrics.update(database_metrics(result, inside["request"]))
    if result.version_names:
        metrics.update(version_metrics(result))
    if result.read_models:
        metrics.update(read_model_metrics(result, inside))
    return metrics


def request_metrics(outcomes: pd.Series, latency: pd.Series, window: float) -> dict[str, float]:
    """The request-level headline figures of the requests of a ``window`` seconds long observation
    period: their ``outcomes`` (names in :data:`simulator.records.OUTCOMES`) and ``latency`` (seconds).

    ``requests``, ``throughput``, ``error_rate``, ``latency_mean``, the :data:`FAILURE_SHARES` and the
    :data:`PERCENTILES` (module docstring). The live load generator summarizes its requests with this
    same function, so a live run and a simulated one compare figure by figure.
    """
    ok = latency[outcomes.isin(ANSWERED)].to_numpy()
    metrics = {
        "requests": float(len(outcomes)),
        "throughput": len(ok) / window,
        "error_rate": 1 - len(ok) / len(outcomes) if len(outcomes) else math.nan,
        "latency_mean": float(ok.mean()) if len(ok) else math.nan,
    }
    for outcome in FAILURE_SHARES:
        metrics[outcome] = _share(outcomes, (outcome,))
    for name, q in PERCENTILES.items():
        metrics[name] = float(np.percentile(ok, q)) if len(ok) else math.nan
    return metrics


def read_model_metrics(result: RunResult, requests: pd.DataFrame) -> dict[str, float]:
    """Per CQRS read model (a database its projectors write): staleness and stale queries.

    Staleness is over the acked messages of its channels published in the window (publication to
    acknowledgement: the projector acks once its write to the read model is answered). A read of the
    read model by one of ``requests`` (the window's, with a key) is a stale query when some message of
    its key (the key of the request that published it), on those channels, was published before the
    read started and not acknowledged by then (or never).
    """
    messages, start, stop = result.messages, result.warmup, result.horizon
    keys = result.requests.set_index("request")["key"]
    metrics: dict[str, float] = {}
    for name, channels in result.read_models.items():
        fed = messages[messages["channel"].isin(channels)]
        inside = fed[(fed["published"] >= start) & (fed["published"] < stop) & (fed["outcome"] == "acked")]
        lag = inside["lag"].to_numpy()
        metrics[f"{name}.read_model_staleness_mean"] = float(lag.mean()) if len(lag) else math.nan
        metrics[f"{name}.read_model_staleness_p99"] = float(np.percentile(lag, 99)) if len(lag) else math.nan
        ops = result.db_ops
        reads = ops[
            (ops["database"] == name) & (ops["op"] == "read") & ops["request"].isin(requests["request"])
        ]
        reads = reads.assign(key=reads["request"].map(keys).to_numpy())
        reads = reads[reads["key"] != -1]
        if len(reads):
            metrics[f"{name}.stale_queries"] = float(_stale(fed, keys, reads).mean())
    return metrics


def _stale(messages: pd.DataFrame, keys: pd.Series, reads: pd.DataFrame) -> np.ndarray:
    """For each read (``key``, ``start``): whether a message of its key was published before it and
    settled after it. Per key, over messages in publication order, the running maximum of their
    settle times (never settled: infinity) tells at once whether any published earlier is still out."""
    settled = messages["settled"].where(messages["outcome"] == "acked", np.inf).fillna(np.inf)
    frame = pd.DataFrame(
        {
            "key": messages["request"].map(keys).to_numpy(),
            "published": messages["published"],
            "settled": settled,
        }
    ).sort_values(["key", "published"])
    stale = np.zeros(len(reads), dtype=bool)
    by_key = dict(tuple(frame.groupby("key", sort=False)))
    for key, positions in reads.groupby("key", sort=False).indices.items():
        group = by_key.get(key)
        if group is None:
            continue
        latest = np.maximum.accumulate(group["settled"].to_numpy())
        times = reads["start"].to_numpy()[positions]
        before = np.searchsorted(group["published"].to_numpy(), times, side="left")
        stale[positions] = (before > 0) & (latest[np.maximum(before - 1, 0)] > times)
    return stale


def database_metrics(result: RunResult, requests: pd.Series) -> dict[str, float]:
    """Per database, over the operations of ``requests`` (ids): pool, lock, replica and event-store
    figures (see the module docstring)."""
    ops = result.db_ops
    ops = ops[ops["request"].isin(requests)]
    window = result.horizon - result.warmup
    metrics: dict[str, float] = {}
    for name, group in ops.groupby("database", observed=True, sort=False):
        pool_wait = group["pool_wait"].to_numpy()
        metrics[f"{name}.ops_per_s"] = len(group) / window
        metrics[f"{name}.pool_wait"] = float(pool_wait.mean())
        metrics[f"{name}.pool_wait_p99"] = float(np.percentile(pool_wait, 99))
        metrics[f"{name}.pool_exhausted"] = _share(group["outcome"], ("pool_exhausted",))
        locked = group["lock_wait"].dropna().to_numpy()
        if len(locked):
            metrics[f"{name}.lock_wait"] = float(locked.mean())
            metrics[f"{name}.lock_wait_p99"] = float(np.percentile(locked, 99))
            metrics[f"{name}.lock_contention"] = float((locked > 0).mean())
        reads = group[group["op"] == "read"]
        replica = reads[reads["replica"] & reads["staleness"].notna()]
        if len(replica):
            metrics[f"{name}.replica_reads"] = float(reads["replica"].mean())
            metrics[f"{name}.staleness_mean"] = float(replica["staleness"].mean())
            metrics[f"{name}.staleness_p99"] = float(np.percentile(replica["staleness"], 99))
            metrics[f"{name}.stale_reads"] = float(replica["stale"].mean())
        loads = group[(group["op"] == "load") & (group["outcome"] == "ok")]
        if len(loads):
            metrics[f"{name}.rehydration_mean"] = float(loads["work"].mean())
            metrics[f"{name}.rehydration_p99"] = float(np.percentile(loads["work"], 99))
            metrics[f"{name}.replayed_mean"] = float(loads["replayed"].mean())
    return metrics


def message_metrics(result: RunResult) -> dict[str, float]:
    """Per queue or consumer group: rates, backlog, lags and what became of the messages published in
    the window (module docstring)."""
    start, stop = result.warmup, result.horizon
    window = stop - start
    messages = result.messages
    end = max(stop, float(np.nanmax(messages["settled"]))) if messages["settled"].notna().any() else stop
    metrics: dict[str, float] = {}
    for name, group in messages.groupby("channel", observed=False, sort=False):
        published = group["published"].to_numpy()
        settled = np.nan_to_num(group["settled"].to_numpy(), nan=end)
        backlog = level_average(published, settled, np.array([start, stop]))[0]
        rows = group[(group["published"] >= start) & (group["published"] < stop)]
        acked = rows[rows["outcome"] == "acked"]
        outcome = rows["outcome"]
        metrics[f"{name}.publish_rate"] = len(rows) / window
        metrics[f"{name}.ack_rate"] = len(acked) / window
        metrics[f"{name}.backlog_mean"] = float(backlog)
        metrics[f"{name}.wait_mean"] = float(rows["wait"].mean()) if rows["wait"].notna().any() else math.nan
        metrics[f"{name}.lag_mean"] = float(acked["lag"].mean()) if len(acked) else math.nan
        metrics[f"{name}.lag_p99"] = float(np.percentile(acked["lag"], 99)) if len(acked) else math.nan
        metrics[f"{name}.deliveries"] = float(rows["deliveries"].mean()) if len(rows) else math.nan
        metrics[f"{name}.redelivered"] = float((rows["deliveries"] > 1).mean()) if len(rows) else math.nan
        for share in ("dead_lettered", "expired", "pending"):
            metrics[f"{name}.{share}"] = _share(outcome, (share,))
    return metrics


def completion_times(result: RunResult, requests: pd.DataFrame) -> pd.Series:
    """Per request (indexed by id): arrival to the end of its whole flow, NaN when the flow did not
    complete (module docstring: ``completion_mean``)."""
    messages = result.messages
    frame = requests.set_index("request")
    last = messages.groupby("request")["settled"].max().reindex(frame.index).to_numpy(dtype=float)
    unfinished = messages.loc[messages["outcome"] != "acked", "request"].unique()
    done = frame["status"].isin(ANSWERED).to_numpy() & ~frame.index.isin(unfinished)
    finish = np.fmax(frame["end"].to_numpy(), last)
    return pd.Series(np.where(done, finish - frame["arrival"].to_numpy(), np.nan), index=frame.index)


def completion_metrics(result: RunResult, requests: pd.DataFrame) -> dict[str, float]:
    times = completion_times(result, requests).dropna().to_numpy()
    return {
        "completion_mean": float(times.mean()) if len(times) else math.nan,
        "completion_p99": float(np.percentile(times, 99)) if len(times) else math.nan,
        "completed": len(times) / len(requests) if len(requests) else math.nan,
    }


def edge_metrics(result: RunResult, requests: pd.Series) -> dict[str, float]:
    """Per guarded call edge, over the tries of ``requests`` (ids): tries, retries and hedges per call,
    timeouts, refusals; and the time the edge's breaker spent open in the observation window."""
    start, stop = result.warmup, result.horizon
    tries = result.tries
    tries = tries[tries["request"].isin(requests)]
    breakers = result.breakers
    metrics: dict[str, float] = {}
    for name, group in tries.groupby("edge", observed=False, sort=False):
        calls = int((group["kind"] == "first").sum())
        sent = group[~group["outcome"].isin(_NOT_SENT)]
        metrics[f"{name}.tries"] = len(sent) / calls if calls else math.nan
        metrics[f"{name}.retries"] = float((group["kind"] == "retry").sum()) / calls if calls else math.nan
        metrics[f"{name}.hedges"] = float((group["kind"] == "hedge").sum()) / calls if calls else math.nan
        metrics[f"{name}.timeouts"] = _share(sent["outcome"], ("timeout",))
        metrics[f"{name}.refused"] = _share(group["outcome"], _NOT_SENT)
        changes = breakers[breakers["edge"] == name]
        metrics[f"{name}.breaker_open"] = state_share(changes, "open", start, stop)
    return metrics


def state_share(changes: pd.DataFrame, state: str, start: float, stop: float) -> float:
    """Fraction of ``[start, stop)`` a breaker spent in ``state``, from its ``breakers`` records (closed
    before the first change)."""
    times = np.concatenate([[-math.inf], changes["time"].to_numpy(), [math.inf]])
    states = [BREAKER_STATES[0], *changes["to_state"].astype(str)]
    inside = 0.0
    for index, current in enumerate(states):
        if current == state:
            inside += max(0.0, min(times[index + 1], stop) - max(times[index], start))
    return inside / (stop - start)


def _share(statuses: pd.Series, among: tuple[str, ...]) -> float:
    """Fraction of ``statuses`` that are one of ``among`` (NaN when there are none at all)."""
    return float(statuses.isin(among).mean()) if len(statuses) else math.nan


def confidence_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the Student-t interval of independent replications' ``values``.

    With fewer than two finite values the half-width is NaN: one replication says nothing about its
    own variability.
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return math.nan, math.nan
    mean = float(values.mean())
    if len(values) < 2:
        return mean, math.nan
    from scipy.special import stdtrit  # scipy costs 0.3 s to import: only where an interval is drawn

    sem = float(values.std(ddof=1)) / math.sqrt(len(values))
    return mean, float(stdtrit(len(values) - 1, 0.5 + level / 2)) * sem


def summarize(per_replication: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """One row per metric: ``mean``, ``low``, ``high`` (confidence interval at ``level``) and ``n``."""
    rows = {}
    for metric in per_replication.columns:
        mean, half = confidence_interval(per_replication[metric].to_numpy(), level)
        rows[metric] = {"mean": mean, "low": mean - half, "high": mean + half, "n": len(per_replication)}
    return pd.DataFrame.from_dict(rows, orient="index")
