"""Tests for :mod:`simulator.traces`: span parentage, the OTLP/JSON and Zipkin v2 exports, critical paths.

The promises: each request's spans form a tree matching its route's call graph (the client's
call is the root; a call's children are what the route nests under it; retries are siblings under
one parent); a child's interval lies within its parent's (when nothing abandons a call); the
exports have the fields, types and id formats the two formats require (checked against small JSON
Schemas below, by a hand-written validator of the subset they use, as ``jsonschema`` is not a
dependency); a request's critical path partitions its latency.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from simulator import RunResult, Scenario, scenario_from_dict, simulate
from simulator.records import CLIENT, MESSAGE
from simulator.traces import (
    EPOCH_NS,
    critical_path,
    critical_path_summary,
    otlp_document,
    sample_requests,
    trace_spans,
    write_traces,
    zipkin_document,
)
from tests.simulator.bundled import bundled
from tests.simulator.test_cli import _cli

HEX32 = "^[0-9a-f]{32}$"
HEX16 = "^[0-9a-f]{16}$"
DIGITS = "^[0-9]+$"

_ANY_VALUE = {
    "type": "object",
    "anyOf_keys": ["stringValue", "intValue", "doubleValue", "boolValue"],
}
_KEY_VALUES = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["key", "value"],
        "properties": {"key": {"type": "string"}, "value": _ANY_VALUE},
    },
}
OTLP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["resourceSpans"],
    "properties": {
        "resourceSpans": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["resource", "scopeSpans"],
                "properties": {
                    "resource": {
                        "type": "object",
                        "required": ["attributes"],
                        "properties": {"attributes": _KEY_VALUES},
                    },
                    "scopeSpans": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["scope", "spans"],
                            "properties": {
                                "scope": {"type": "object", "required": ["name"]},
                                "spans": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": [
                                            "traceId",
                                            "spanId",
                                            "name",
                                            "kind",
                                            "startTimeUnixNano",
                                            "endTimeUnixNano",
                                            "status",
                                        ],
                                        "properties": {
                                            "traceId": {"type": "string", "pattern": HEX32},
                                            "spanId": {"type": "string", "pattern": HEX16},
                                            "parentSpanId": {"type": "string", "pattern": HEX16},
                                            "name": {"type": "string"},
                                            "kind": {"type": "integer", "enum": [0, 1, 2, 3, 4, 5]},
                                            "startTimeUnixNano": {"type": "string", "pattern": DIGITS},
                                            "endTimeUnixNano": {"type": "string", "pattern": DIGITS},
                                            "attributes": _KEY_VALUES,
                                            "links": {
                                                "type": "array",
                                                "items": {
                                                    "type": "object",
                                                    "required": ["traceId", "spanId"],
                                                    "properties": {
                                                        "traceId": {"type": "string", "pattern": HEX32},
                                                        "spanId": {"type": "string", "pattern": HEX16},
                                                    },
                                                },
                                            },
                                            "status": {
                                                "type": "object",
                                                "required": ["code"],
                                                "properties": {
                                                    "code": {"type": "integer", "enum": [0, 1, 2]},
                                                    "message": {"type": "string"},
                                                },
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}
ZIPKIN_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["traceId", "id", "name", "timestamp", "duration", "localEndpoint"],
        "properties": {
            "traceId": {"type": "string", "pattern": HEX32},
            "id": {"type": "string", "pattern": HEX16},
            "parentId": {"type": "string", "pattern": HEX16},
            "name": {"type": "string"},
            "kind": {"type": "string", "enum": ["CLIENT", "SERVER", "PRODUCER", "CONSUMER"]},
            "timestamp": {"type": "integer", "minimum": 1},
            "duration": {"type": "integer", "minimum": 1},
            "localEndpoint": {
                "type": "object",
                "required": ["serviceName"],
                "properties": {"serviceName": {"type": "string"}},
            },
            "tags": {"type": "object", "values": {"type": "string"}},
        },
    },
}
_TYPES = {"object": dict, "array": list, "string": str, "integer": int}


def violations(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """What in ``value`` breaks ``schema`` (JSON Schema's type/required/properties/items/pattern/enum/
    minimum, plus ``values`` for an object's values and ``anyOf_keys``: exactly one of these keys)."""
    kind = _TYPES[schema["type"]]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        return [f"{path}: expected {schema['type']}, got {type(value).__name__}"]
    problems = []
    if "pattern" in schema and not re.match(schema["pattern"], value):
        problems.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} not in {schema['enum']}")
    if "minimum" in schema and value < schema["minimum"]:
        problems.append(f"{path}: {value} < {schema['minimum']}")
    if kind is dict:
        problems += [f"{path}: missing {key!r}" for key in schema.get("required", ()) if key not in value]
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                problems += violations(value[key], sub, f"{path}.{key}")
        if "values" in schema:
            for key, item in value.items():
                problems += violations(item, schema["values"], f"{path}.{key}")
        if "anyOf_keys" in schema and sum(key in value for key in schema["anyOf_keys"]) != 1:
            problems.append(f"{path}: needs exactly one of {schema['anyOf_keys']}")
    if kind is list and "items" in schema:
        for index, item in enumerate(value):
            problems += violations(item, schema["items"], f"{path}[{index}]")
    return problems


@cache
def shop() -> tuple[Scenario, RunResult]:
    scenario = bundled("shop", duration="10s", warmup="1s")
    return scenario, simulate(scenario)


def trees(spans: pd.DataFrame) -> dict[int, tuple[Any, ...]]:
    """Each request's call tree under its client call, as (service, sorted children): comparable."""
    children: dict[int, list[int]] = {}
    for span, parent in zip(spans["span"], spans["parent"], strict=True):
        children.setdefault(int(parent), []).append(int(span))
    service = dict(zip(spans["span"], spans["service"].astype(str), strict=True))

    def build(span: int) -> tuple[Any, ...]:
        return (service[span], tuple(sorted(build(child) for child in children.get(span, []))))

    roots = spans[spans["parent"] == CLIENT]
    return {int(r): build(int(s)) for r, s in zip(roots["request"], roots["span"], strict=True)}


SHOP_TREES = {
    "browse": ("gateway", (("inventory", (("database", ()),)),)),
    "profile": ("gateway", (("users", (("database", ()),)),)),
    "checkout": (
        "gateway",
        (
            ("inventory", (("database", ()),)),
            ("orders", (("database", ()),)),
            ("payments", (("database", ()),)),
            ("users", ()),
        ),
    ),
}


# --- parentage -----------------------------------------------------------------------------------


def test_spans_form_the_routes_call_trees_in_the_shop() -> None:
    """Every request answered in full has one root, a gateway span the client called, and below it
    exactly the calls its route nests (checkout: users, then inventory and payments in parallel,
    then orders, each with its database call)."""
    scenario, result = shop()
    spans = result.spans
    assert spans["span"].is_unique
    requests = result.requests[result.requests["status"] == "ok"]
    spans = spans[spans["request"].isin(requests["request"])]
    roots = spans[spans["parent"] == CLIENT]
    assert roots.groupby("request").size().eq(1).all()
    assert set(roots["service"].astype(str)) == {"gateway"}
    assert (spans["parent"] != MESSAGE).all()
    route_of = dict(zip(result.workloads, (w.route for w in scenario.workloads), strict=True))
    routes = requests.set_index("request")["workload"].astype(str).map(route_of)
    seen: Counter[str] = Counter()
    for request, shape in trees(spans).items():
        assert shape == SHOP_TREES[routes[request]], (request, routes[request])
        seen[routes[request]] += 1
    assert min(seen.values()) > 50, seen


def test_every_span_lies_within_its_parents_interval() -> None:
    """Nothing in the shop abandons a call (no timeouts, no hedges): a parent holds its slot until
    its nested calls are back, so each child starts after its parent arrived and ends before it does."""
    _, result = shop()
    spans = result.spans
    parents = spans.set_index("span")[["arrival", "end"]]
    children = spans[spans["parent"] >= 0]
    joined = children.merge(parents, left_on="parent", right_index=True, suffixes=("", "_parent"))
    assert len(joined) > 1000
    assert (joined["arrival"] >= joined["arrival_parent"]).all()
    assert (joined["end"] <= joined["end_parent"]).all()
    assert (joined["request"] == spans.set_index("span").loc[joined["parent"], "request"].to_numpy()).all()


def test_retries_are_sibling_spans_under_one_parent() -> None:
    """A guarded edge gateway->api that retries injected errors: each try that reached api is a span,
    all with the gateway's span as parent; their count matches the tries sent."""
    scenario = scenario_from_dict(
        {
            "name": "retries",
            "duration": "20s",
            "seed": 3,
            "services": {
                "gateway": {
                    "replicas": 1,
                    "concurrency": 50,
                    "service_time": {"dist": "deterministic", "value": "1ms"},
                },
                "api": {
                    "replicas": 1,
                    "concurrency": 50,
                    "service_time": {"dist": "exponential", "mean": "5ms"},
                },
            },
            "routes": {"main": [{"call": "gateway", "calls": [{"call": "api"}]}]},
            "workloads": [{"route": "main", "arrivals": {"process": "poisson", "rate": "20/s"}}],
            "faults": [{"kind": "errors", "service": "api", "rate": 0.5, "at": "0s"}],
            "resilience": {"edges": [{"from": "gateway", "to": "api", "retry": {"max_attempts": 3}}]},
        }
    )
    result = simulate(scenario)
    spans = result.spans
    gateway = spans[spans["service"] == "gateway"].set_index("span")
    api = spans[spans["service"] == "api"]
    assert (api["parent"].isin(gateway.index)).all()
    per_parent = api.groupby("parent").size()
    assert per_parent.max() == 3
    assert per_parent.min() == 1
    tries = result.tries.groupby("request").size()
    calls = api.groupby("request").size()
    assert calls.reindex(tries.index, fill_value=0).equals(tries)
    # with errors at rate 0.5 about half the exchanges needed a second try
    share = float((per_parent > 1).mean())
    n = len(per_parent)
    assert abs(share - 0.5) < 4 * np.sqrt(0.25 / n), (share, n)


def test_message_deliveries_start_linked_traces() -> None:
    """Consumers' spans hang under their delivery, which is a root (CONSUMER) with a link to the
    trace of the request that published the message."""
    scenario = bundled("messaging", duration="10s", warmup="0s")
    result = simulate(scenario)
    frame = trace_spans(result, sample_requests(result, 30), scenario)
    deliveries = frame[frame["parent"] == MESSAGE]
    assert len(deliveries) > 0
    assert (deliveries["trace_id"] != deliveries["link_trace_id"]).all()
    request_traces = set(frame.loc[frame["root"] < 0, "trace_id"])
    assert set(deliveries["link_trace_id"]) <= request_traces
    document = otlp_document(frame)
    assert violations(document, OTLP_SCHEMA) == []
    kinds = Counter(
        (span["kind"], "links" in span)
        for resource in document["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    )
    assert kinds[(5, True)] == len(deliveries)
    in_trace = frame.groupby("trace_id")[["root", "route"]].nunique()
    assert in_trace.eq(1).all().all()  # one root and one route per trace
    assert set(frame.loc[frame["root"] >= 0, "route"]) == {"consumer:shipping"}


# --- exports -------------------------------------------------------------------------------------


def test_otlp_export_validates_and_keeps_the_tree() -> None:
    scenario, result = shop()
    frame = trace_spans(result, sample_requests(result, 25), scenario)
    document = otlp_document(frame)
    assert violations(document, OTLP_SCHEMA) == []
    spans = [
        (resource["resource"]["attributes"][0]["value"]["stringValue"], span)
        for resource in document["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]
    assert len(spans) == len(frame)
    assert {service for service, _ in spans} == set(frame["service"].astype(str))
    ids = {span["spanId"]: span for _, span in spans}
    assert len(ids) == len(spans)
    for _, span in spans:
        parent = span.get("parentSpanId")
        if parent is not None:
            assert ids[parent]["traceId"] == span["traceId"]
            assert int(ids[parent]["startTimeUnixNano"]) <= int(span["startTimeUnixNano"])
    assert len({span["traceId"] for _, span in spans}) == 25
    first = frame.iloc[0]
    assert int(spans[0][1]["startTimeUnixNano"]) >= EPOCH_NS + int(result.warmup * 1e9)
    assert first["arrival"] >= result.warmup


def test_zipkin_export_validates_and_matches_the_spans() -> None:
    scenario, result = shop()
    frame = trace_spans(result, sample_requests(result, 25, "uniform", seed=7), scenario)
    document = zipkin_document(frame)
    assert violations(document, ZIPKIN_SCHEMA) == []
    assert len(document) == len(frame)
    for span, row in zip(document, frame.itertuples(), strict=True):
        assert span["localEndpoint"]["serviceName"] == str(row.service)
        assert abs(span["timestamp"] - (EPOCH_NS / 1e3 + row.arrival * 1e6)) <= 1
        assert abs(span["duration"] - (row.end - row.arrival) * 1e6) <= 2  # two roundings of 0.5 us
        assert ("parentId" in span) == (row.parent >= 0)


def test_sampling_is_reproducible_and_the_slowest_are_slowest() -> None:
    _, result = shop()
    window = result.requests[result.requests["arrival"] >= result.warmup]
    first = sample_requests(result, 10)
    assert list(first) == list(window["request"].iloc[:10])
    uniform = sample_requests(result, 10, "uniform", seed=1)
    assert list(uniform) == list(sample_requests(result, 10, "uniform", seed=1))
    assert list(uniform) != list(sample_requests(result, 10, "uniform", seed=2))
    slowest = sample_requests(result, 10, "slowest")
    latency = window.set_index("request")["latency"]
    assert latency.loc[slowest].min() >= latency.drop(slowest).max()


# --- critical path -------------------------------------------------------------------------------


def test_critical_paths_add_up_to_the_latency_and_take_the_slowest_branch() -> None:
    """The segments partition [arrival, end] of each request; in checkout's parallel fan-out the path
    crosses the branch (inventory or payments) that ended last, never both."""
    scenario, result = shop()
    path = critical_path(result, scenario=scenario)
    latency = result.requests.set_index("request")["latency"]
    total = path.groupby("request")["duration"].sum()
    assert np.allclose(total.to_numpy(), latency.loc[total.index].to_numpy(), rtol=0, atol=1e-9)
    assert (path["duration"] > 0).all()
    # consecutive segments touch: the path is a partition of the request's interval
    ends = path.groupby("request")["end"].shift()
    gaps = (path["start"] - ends).dropna()
    assert np.allclose(gaps.to_numpy(), 0.0, atol=1e-12)
    spans = result.spans
    ok = result.requests.loc[result.requests["status"] == "ok", "request"]
    branches = spans[spans["request"].isin(ok) & spans["service"].isin(["inventory", "payments"])]
    slowest = branches.loc[branches.groupby("request")["end"].idxmax()].set_index("request")["service"]
    checkout = path[(path["route"] == "checkout") & path["request"].isin(ok)]
    crossed = checkout[checkout["service"].isin(["inventory", "payments"])]
    crossed = crossed.groupby("request")["service"].agg(lambda s: frozenset(s.astype(str)))
    checked = 0
    for request, services in crossed.items():
        assert services == {str(slowest[request])}, request
        checked += 1
    assert len(crossed) == checkout["request"].nunique()
    assert checked > 50


def test_the_summary_shares_add_up_and_payments_dominate_checkout() -> None:
    """Per route the shares sum to 1; checkout's path is mostly payments (30 ms mean, one in ten
    charges ~200 ms) -- more than all its other services together."""
    scenario, result = shop()
    path = critical_path(result, scenario=scenario)
    summary = critical_path_summary(path, result.requests)
    assert np.allclose(summary.groupby("route")["share"].sum().to_numpy(), 1.0)
    checkout = summary[summary["route"] == "checkout"].set_index("service")
    assert checkout["share"].idxmax() == "payments"
    assert checkout.at["payments", "share"] > 0.5
    assert checkout.at["gateway", "on_path"] == 1.0


# --- the command line ----------------------------------------------------------------------------


@pytest.mark.slow
def test_run_writes_the_traces_and_the_critical_path_table(tmp_path: Path) -> None:
    fmt = "zipkin"
    scenario = tmp_path / "shop.yaml"
    scenario.write_text(
        (Path(bundled.__code__.co_filename).parents[2] / "simulator/scenarios/shop.yaml")
        .read_text()
        .replace("duration: 60s", "duration: 3s")
        .replace("warmup: 5s", "warmup: 1s")
    )
    options = ["--traces", "4", "--trace-format", fmt, "--trace-sample", "slowest", "--no-progress"]
    done = _cli(
        "run", scenario, "-o", tmp_path / "out", "--replications", "1", "-v", "base", *options, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    document = json.loads((tmp_path / "out" / f"traces.{fmt}.json").read_text())
    assert violations(document, OTLP_SCHEMA if fmt == "otlp" else ZIPKIN_SCHEMA) == []
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Critical path" in report
    assert "| checkout | payments |" in report


def test_write_traces_writes_the_named_file(tmp_path: Path) -> None:
    scenario, result = shop()
    path = write_traces(result, tmp_path, 5, "otlp", "slowest", scenario=scenario)
    assert path == tmp_path / "traces.otlp.json"
    assert violations(json.loads(path.read_text()), OTLP_SCHEMA) == []


def test_write_traces_rejects_an_unknown_format(tmp_path: Path) -> None:
    _, result = shop()
    with pytest.raises(ValueError, match="unknown trace format 'jaeger'"):
        write_traces(result, tmp_path, 3, "jaeger")
