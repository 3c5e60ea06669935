"""Simulated requests as distributed traces (OTLP/JSON, Zipkin v2) and their critical paths.

Every call a request makes is a span in the run's ``spans`` records, with its own id (``span``) and
its parent's (``parent``: the call whose nested calls made it). The spans of one request thus form
a tree matching its route's call graph: the calls the client made are the roots (``parent`` =
:data:`~simulator.records.CLIENT`), a call's children are the calls its ``calls:`` made. Each try of
a guarded call (retries, hedges) is a span of its own, a sibling under the same parent. A message's
delivery to a consumer starts a trace of its own (``parent`` = :data:`~simulator.records.MESSAGE`),
with a *span link* to the trace of the request that published it (to its first client call: the
engine does not keep which call published the message) -- as OpenTelemetry recommends for
asynchronous messaging, where the consumer's work is not part of the publisher's latency.

A span lasts from the call's arrival at the service (after the network hop) to the release of its
slot: it includes its queueing wait and the time its nested calls took, not the hops of its own
request and response. Simulated time ``t`` (seconds) maps to ``EPOCH_NS + round(t * 1e9)``
nanoseconds since the Unix epoch, :data:`EPOCH_NS` being 2026-01-01T00:00:00Z, so a trace viewer
shows the run starting at that instant.

Ids are reproducible: a request's trace id is 16 hex digits of (replication, seed, kind 1) and 16 of
its request id; a message delivery's trace has kind 2 and its root span's id. A span id is its
``span`` + 1 in 16 hex digits (never all zeros, as both formats require).

:func:`critical_path` splits each request's latency (client send to answer) into the segments of the
spans that determined it: walking back from the answer, the child that finished last (for a
parallel fan-out, the slowest branch) is on the path until it started; time not covered by a
child is its parent's own (queueing, work, network hops to its children; ``client`` for the hops
between the client and the first service and any client-side waits). The segments add up to the
latency. :func:`critical_path_summary` aggregates them per route and service.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from simulator.otlp import SPAN_KIND_CONSUMER, SPAN_KIND_SERVER, STATUS_ERROR, STATUS_OK, key_values
from simulator.records import CLIENT, MESSAGE, SUCCESSFUL, RunResult
from simulator.scenario import Scenario

__all__ = [
    "EPOCH_NS",
    "TRACE_FORMATS",
    "critical_path",
    "critical_path_summary",
    "otlp_document",
    "run_critical_paths",
    "sample_requests",
    "trace_spans",
    "write_traces",
    "zipkin_document",
]

EPOCH_NS = 1_767_225_600_000_000_000
"""Unix time in nanoseconds of simulated time 0: 2026-01-01T00:00:00Z."""
TRACE_FORMATS = ("otlp", "zipkin")
SCOPE = "servicelab.simulator"
CLIENT_NAME = "client"
"""The critical path's name for time outside every span (the client's hops and waits)."""

Sampling = Literal["first", "uniform", "slowest"]
_REQUEST_KIND, _MESSAGE_KIND = 1, 2


def sample_requests(result: RunResult, sample: int, how: Sampling = "first", seed: int = 0) -> np.ndarray:
    """Ids of ``sample`` requests that arrived after the warm-up, chosen reproducibly.

    ``first``: the first ones to arrive; ``uniform``: a uniform draw without replacement (numpy
    generator seeded with ``seed``); ``slowest``: the highest latencies (ties by id). Sorted by id.
    """
    if sample < 0:
        raise ValueError(f"sample must be >= 0, got {sample}")
    requests = result.requests
    window = requests[requests["arrival"] >= result.warmup]
    if how == "first":
        chosen = window["request"].to_numpy()[:sample]
    elif how == "uniform":
        ids = window["request"].to_numpy()
        chosen = np.random.default_rng(seed).choice(ids, size=min(sample, len(ids)), replace=False)
    elif how == "slowest":
        ordered = window.sort_values(["latency", "request"], ascending=[False, True], kind="stable")
        chosen = ordered["request"].to_numpy()[:sample]
    else:
        raise ValueError(f"unknown sampling {how!r}; expected first, uniform or slowest")
    return np.sort(chosen)


def trace_spans(result: RunResult, requests: Iterable[int], scenario: Scenario | None = None) -> pd.DataFrame:
    """The spans of ``requests`` (and of the message deliveries they caused), with their trace.

    The ``spans`` columns plus ``root`` (the root span of a delivery tree, -1 in a request's tree),
    ``trace_id``, ``span_id`` and ``parent_id`` (hex; ``parent_id`` is "" for a root), ``route``
    (the request's; in a delivery tree ``consumer:NAME``, the consumer of the root's service; ""
    without a scenario), ``link_trace_id`` and ``link_span_id`` (a delivery root's link to its
    publisher's trace; "" otherwise).
    """
    wanted = np.asarray(list(requests), dtype=np.int64)
    spans = result.spans
    frame = spans[spans["request"].isin(wanted)].sort_values("span", ignore_index=True)
    parent_of = dict(zip(frame["span"].to_numpy(), frame["parent"].to_numpy(), strict=True))
    roots = np.empty(len(frame), dtype=np.int64)
    for row, (span, parent) in enumerate(
        zip(frame["span"].to_numpy(), frame["parent"].to_numpy(), strict=True)
    ):
        while parent >= 0:
            span, parent = parent, parent_of.get(parent, CLIENT)  # a missing parent: treat as a root
        roots[row] = span if parent == MESSAGE else -1
    frame["root"] = roots
    prefix = f"{result.replication & 0xFFFF:04x}{result.seed & 0xFFFFFFFF:08x}"
    delivery = roots >= 0
    frame["trace_id"] = [
        f"{prefix}{_MESSAGE_KIND:04x}{root:016x}"
        if root >= 0
        else f"{prefix}{_REQUEST_KIND:04x}{request:016x}"
        for root, request in zip(roots, frame["request"].to_numpy(), strict=True)
    ]
    frame["span_id"] = [f"{span + 1:016x}" for span in frame["span"].to_numpy()]
    frame["parent_id"] = [f"{p + 1:016x}" if p >= 0 else "" for p in frame["parent"].to_numpy()]
    client_roots = frame[frame["parent"] == CLIENT].groupby("request")["span"].min()
    link_trace, link_span = [""] * len(frame), [""] * len(frame)
    for row in np.flatnonzero(delivery & (frame["parent"].to_numpy() == MESSAGE)):
        request = int(frame["request"].iat[row])
        link_trace[row] = f"{prefix}{_REQUEST_KIND:04x}{request:016x}"
        first = client_roots.get(request)
        if first is None:  # the publisher's trace is not in the sample: find its first client call
            publisher = spans[(spans["request"] == request) & (spans["parent"] == CLIENT)]["span"]
            first = publisher.min() if len(publisher) else None
        link_span[row] = f"{int(first) + 1:016x}" if first is not None else ""
    frame["link_trace_id"], frame["link_span_id"] = link_trace, link_span
    frame["route"] = _routes(result, scenario, frame)
    return frame


def _routes(result: RunResult, scenario: Scenario | None, frame: pd.DataFrame) -> list[str]:
    if scenario is None:
        return [""] * len(frame)
    by_workload = dict(zip(result.workloads, (w.route for w in scenario.workloads), strict=True))
    requests = result.requests.set_index("request")["workload"].astype(str)
    routes = [by_workload.get(requests.get(r, ""), "") for r in frame["request"].to_numpy()]
    consumers = {c.service: f"consumer:{c.name}" for c in scenario.consumers}  # by service: one each
    service_of = dict(zip(frame["span"].to_numpy(), frame["service"].astype(str), strict=True))
    return [  # a delivery tree's spans take the route of the consumer at its root
        consumers.get(service_of.get(root, ""), route) if root >= 0 else route
        for route, root in zip(routes, frame["root"].to_numpy(), strict=True)
    ]


def _nanos(seconds: float) -> int:
    return EPOCH_NS + round(seconds * 1e9)


def _attributes(row: object) -> dict[str, object]:
    return {
        "servicelab.request": int(row.request),  # type: ignore[attr-defined]
        "servicelab.route": row.route,  # type: ignore[attr-defined]
        "servicelab.replica": int(row.replica),  # type: ignore[attr-defined]
        "servicelab.status": str(row.status),  # type: ignore[attr-defined]
        "servicelab.wait_s": float(row.wait),  # type: ignore[attr-defined]
    }


def otlp_document(frame: pd.DataFrame) -> dict[str, object]:
    """An OTLP/JSON ``ExportTraceServiceRequest`` of :func:`trace_spans`'s ``frame``.

    One ``resourceSpans`` per service (resource attribute ``service.name``), one scope
    (``servicelab.simulator``); spans of kind SERVER (CONSUMER for a delivery root), status OK for
    a successful span (``ok``, ``cached``, ``coalesced``), ERROR with the span status as message
    otherwise.
    """
    resources = []
    for service, group in frame.groupby("service", observed=True, sort=False):
        spans = []
        for row in group.itertuples(index=False):
            ok = row.status in SUCCESSFUL
            span: dict[str, object] = {
                "traceId": row.trace_id,
                "spanId": row.span_id,
                "name": f"{row.route} {service}".strip(),
                "kind": SPAN_KIND_CONSUMER if row.parent == MESSAGE else SPAN_KIND_SERVER,
                "startTimeUnixNano": str(_nanos(row.arrival)),
                "endTimeUnixNano": str(_nanos(row.end)),
                "attributes": key_values(_attributes(row)),
                "status": {"code": STATUS_OK} if ok else {"code": STATUS_ERROR, "message": str(row.status)},
            }
            if row.parent_id:
                span["parentSpanId"] = row.parent_id
            if row.link_trace_id and row.link_span_id:
                span["links"] = [{"traceId": row.link_trace_id, "spanId": row.link_span_id}]
            spans.append(span)
        resources.append(
            {
                "resource": {"attributes": key_values({"service.name": str(service)})},
                "scopeSpans": [{"scope": {"name": SCOPE}, "spans": spans}],
            }
        )
    return {"resourceSpans": resources}


def zipkin_document(frame: pd.DataFrame) -> list[dict[str, object]]:
    """A Zipkin v2 span list of :func:`trace_spans`'s ``frame`` (microseconds; tags are strings).

    A failed span has the ``error`` tag (its status); a delivery root, kind CONSUMER, has the
    publisher's trace in the ``servicelab.link`` tag (Zipkin has no span links).
    """
    spans = []
    for row in frame.itertuples(index=False):
        start = _nanos(row.arrival) // 1000
        tags = {key: str(value) for key, value in _attributes(row).items()}
        if row.status not in SUCCESSFUL:
            tags["error"] = str(row.status)
        if row.link_trace_id:
            tags["servicelab.link"] = f"{row.link_trace_id}/{row.link_span_id}"
        span: dict[str, object] = {
            "traceId": row.trace_id,
            "id": row.span_id,
            "name": f"{row.route} {row.service}".strip(),
            "kind": "CONSUMER" if row.parent == MESSAGE else "SERVER",
            "timestamp": start,
            "duration": max(1, _nanos(row.end) // 1000 - start),  # Zipkin wants at least 1 us
            "localEndpoint": {"serviceName": str(row.service)},
            "tags": tags,
        }
        if row.parent_id:
            span["parentId"] = row.parent_id
        spans.append(span)
    return spans


def write_traces(
    result: RunResult,
    folder: Path,
    sample: int,
    fmt: str = "otlp",
    how: Sampling = "first",
    seed: int = 0,
    scenario: Scenario | None = None,
) -> Path:
    """Write ``sample`` requests of ``result`` (see :func:`sample_requests`) as ``traces.<fmt>.json``."""
    if fmt not in TRACE_FORMATS:
        raise ValueError(f"unknown trace format {fmt!r}; expected one of {', '.join(TRACE_FORMATS)}")
    frame = trace_spans(result, sample_requests(result, sample, how, seed), scenario)
    document = otlp_document(frame) if fmt == "otlp" else zipkin_document(frame)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"traces.{fmt}.json"
    path.write_text(json.dumps(document, indent=1) + "\n")
    return path


# --- critical path ------------------------------------------------------------------------------


def _walk(
    node: int,
    lo: float,
    hi: float,
    children: dict[int, list[int]],
    start: np.ndarray,
    end: np.ndarray,
    label: np.ndarray,
    out: list[tuple[int, float, float]],
) -> None:
    """Split [lo, hi] of ``node`` into its own time and its critical children's, appended to ``out``."""
    t = hi
    for child in sorted(children.get(node, ()), key=lambda c: end[c], reverse=True):
        if start[child] >= t:
            continue  # started after the point the path has reached: not on it
        child_end = min(end[child], t)
        if child_end < t:
            out.append((label[node], child_end, t))
        child_start = max(start[child], lo)
        _walk(child, child_start, child_end, children, start, end, label, out)
        t = child_start
        if t <= lo:
            break
    if t > lo:
        out.append((label[node], lo, t))


def critical_path(
    result: RunResult, requests: Iterable[int] | None = None, scenario: Scenario | None = None
) -> pd.DataFrame:
    """The critical path of each request (all of them by default), as segments in time order.

    Columns: ``request``, ``route`` (``""`` without a scenario), ``service`` (``client`` for time
    outside every span), ``start``, ``end`` and ``duration`` (seconds). Message deliveries are
    left out (asynchronous: the request does not wait for them). Per request, the durations add up
    to its latency.
    """
    table = result.requests
    if requests is not None:
        table = table[table["request"].isin(np.asarray(list(requests), dtype=np.int64))]
    spans = result.spans
    spans = spans[spans["request"].isin(table["request"]) & (spans["parent"] != MESSAGE)]
    services = [*result.services, CLIENT_NAME]
    client_label = len(services) - 1
    routes = None
    if scenario is not None:
        by_workload = dict(zip(result.workloads, (w.route for w in scenario.workloads), strict=True))
        routes = table["workload"].astype(str).map(by_workload).fillna("")
    groups = spans.groupby("request", sort=False).indices
    span_ids, parents = spans["span"].to_numpy(), spans["parent"].to_numpy()
    starts, ends = spans["arrival"].to_numpy(), spans["end"].to_numpy()
    codes = spans["service"].cat.codes.to_numpy()
    rows: list[tuple[int, int, float, float]] = []
    for request, arrival, finish in zip(
        table["request"].to_numpy(), table["arrival"].to_numpy(), table["end"].to_numpy(), strict=True
    ):
        index = groups.get(request, np.zeros(0, dtype=np.int64))
        # local numbering: 0 is the client, spans 1..n
        local = {int(s): i + 1 for i, s in enumerate(span_ids[index])}
        start = np.concatenate(([arrival], starts[index]))
        end = np.concatenate(([finish], ends[index]))
        label = np.concatenate(([client_label], codes[index])).astype(np.int64)
        children: dict[int, list[int]] = {}
        for i, parent in enumerate(parents[index]):
            children.setdefault(local.get(int(parent), 0), []).append(i + 1)
        segments: list[tuple[int, float, float]] = []
        _walk(0, arrival, finish, children, start, end, label, segments)
        rows.extend((int(request), code, a, b) for code, a, b in reversed(segments))
    frame = pd.DataFrame(rows, columns=["request", "service", "start", "end"])
    frame["service"] = pd.Categorical.from_codes(frame["service"].astype(np.int16), categories=services)
    frame["duration"] = frame["end"] - frame["start"]
    route_of = dict(zip(table["request"], routes, strict=True)) if routes is not None else {}
    frame.insert(1, "route", frame["request"].map(route_of).fillna("") if route_of else "")
    return frame


def critical_path_summary(path: pd.DataFrame, requests: pd.DataFrame) -> pd.DataFrame:
    """Mean time per request each service spends on its route's critical path, and its share.

    ``path`` is :func:`critical_path`'s frame, ``requests`` the requests it covers (``request``
    and ``latency`` columns). Columns: ``route``, ``service``, ``time`` (mean seconds per request
    of the route; a request whose path does not cross the service counts 0), ``share`` (of the
    route's mean latency; the shares of a route add up to 1), ``on_path`` (fraction of the route's
    requests whose path crosses the service) and ``requests``. Sorted by route, then time.
    """
    latency = requests.set_index("request")["latency"]
    per_request = path.groupby(["route", "request", "service"], observed=True)["duration"].sum().reset_index()
    count = path.groupby("route")["request"].nunique()
    total = per_request.groupby("route")["request"].unique().map(lambda ids: float(latency.loc[ids].sum()))
    grouped = per_request.groupby(["route", "service"], observed=True)
    summary = grouped.agg(time=("duration", "sum"), crossed=("request", "nunique")).reset_index()
    summary["share"] = summary["time"] / summary["route"].map(total)
    summary["on_path"] = summary["crossed"] / summary["route"].map(count)
    summary["time"] = summary["time"] / summary["route"].map(count)
    summary["requests"] = summary["route"].map(count)
    summary["service"] = summary["service"].astype(str)
    columns = ["route", "service", "time", "share", "on_path", "requests"]
    return summary[columns].sort_values(["route", "time"], ascending=[True, False], ignore_index=True)


def run_critical_paths(
    results: Iterable[RunResult], scenario: Scenario, per_replication: int = 2000
) -> pd.DataFrame:
    """:func:`critical_path_summary` over replications: of each, ``per_replication`` requests after
    the warm-up, drawn uniformly (seeded with the replication number), pooled.

    The sample bounds the cost (the walk is Python, ~0.1 ms a request): a report stays quick on a
    long run, and a route's mean path is estimated from thousands of requests.
    """
    paths, covered = [], []
    for result in results:
        ids = sample_requests(result, per_replication, "uniform", seed=result.replication)
        path = critical_path(result, ids, scenario)
        paths.append(path.assign(request=path["request"] + (result.replication << 40)))
        chosen = result.requests[result.requests["request"].isin(ids)]
        covered.append(chosen.assign(request=chosen["request"] + (result.replication << 40)))
    if not paths:
        return pd.DataFrame(columns=["route", "service", "time", "share", "on_path", "requests"])
    return critical_path_summary(pd.concat(paths, ignore_index=True), pd.concat(covered, ignore_index=True))
