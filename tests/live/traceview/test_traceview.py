"""Span trees from hand-written OTLP/JSON trace files: nesting, orphans, damaged lines, the pick."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from live.traceview import (
    TraceNotFoundError,
    load_traces,
    parse_line,
    pick_trace,
    render_trace,
    trace_data,
)

T1 = "4bf92f3577b34da6a3ce929d0e0e4736"
T2 = "4bf92f3577b34da6a3ce929d0e0e9999"
T3 = "0af7651916cd43dd8448eb211c80319c"
EPOCH = 1_767_225_600_000_000_000
MS = 1_000_000


def span(
    trace: str, span_id: int, parent: int | None, name: str, start_ms: float, end_ms: float, **extra
) -> dict:
    return {
        "traceId": trace,
        "spanId": f"{span_id:016x}",
        "parentSpanId": f"{parent:016x}" if parent else "",
        "name": name,
        "kind": extra.pop("kind", 2),
        "startTimeUnixNano": str(EPOCH + int(start_ms * MS)),
        "endTimeUnixNano": str(EPOCH + int(end_ms * MS)),
        "attributes": extra.pop("attributes", []),
        "status": {"code": extra.pop("status", 1)},
    }


def line(service: str, *spans: dict) -> str:
    resource = {
        "attributes": [
            {"key": "service.name", "value": {"stringValue": service}},
            {"key": "service.instance.id", "value": {"stringValue": f"{service}-1"}},
        ]
    }
    document = {
        "resourceSpans": [
            {
                "resource": resource,
                "scopeSpans": [{"scope": {"name": "servicelab.live"}, "spans": list(spans)}],
            }
        ]
    }
    return json.dumps(document) + "\n"


def write(state_dir: Path, instance: str, *lines: str) -> Path:
    folder = state_dir / "traces"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{instance}.jsonl"
    path.write_text("".join(lines), encoding="utf-8")
    return path


STATUS_201 = [{"key": "http.response.status_code", "value": {"intValue": "201"}}]


def shop_trace(state_dir: Path) -> None:
    """T1: gateway -> orders -> inventory (server and client spans); T2: a gateway-only trace, later."""
    write(
        state_dir,
        "gateway-1",
        line("gateway", span(T1, 1, None, "POST /api/orders", 0, 40, attributes=STATUS_201)),
        line("gateway", span(T1, 2, 1, "POST orders", 2, 38, kind=3)),
        line("gateway", span(T2, 9, None, "GET /api/inventory/items", 100, 103)),
    )
    write(
        state_dir,
        "orders-1",
        line(
            "orders", span(T1, 3, 2, "POST /orders", 5, 36), span(T1, 4, 3, "POST inventory", 10, 30, kind=3)
        ),
    )
    write(
        state_dir,
        "inventory-1",
        line("inventory", span(T1, 5, 4, "POST /inventory/reserve", 12, 27, status=2)),
    )


def test_spans_nest_across_services_with_offsets_and_durations(tmp_path: Path) -> None:
    shop_trace(tmp_path)
    found = load_traces(tmp_path)
    assert found.problems == ()
    trace = pick_trace(found, T1)
    assert trace.spans == 5
    assert trace.services == ("gateway", "orders", "inventory")
    assert trace.duration_ns == 40 * MS
    (root,) = trace_data(trace)
    assert (root["service"], root["name"], root["kind"], root["http_status"]) == (
        "gateway",
        "POST /api/orders",
        "server",
        201,
    )
    assert root["duration_ms"] == pytest.approx(40.0)
    client = root["children"][0]
    assert (client["kind"], client["offset_ms"], client["duration_ms"]) == (
        "client",
        pytest.approx(2.0),
        pytest.approx(36.0),
    )
    orders = client["children"][0]
    reserve = orders["children"][0]["children"][0]
    assert (orders["service"], orders["instance"]) == ("orders", "orders-1")
    assert (reserve["service"], reserve["name"], reserve["error"]) == (
        "inventory",
        "POST /inventory/reserve",
        True,
    )
    assert reserve["offset_ms"] == pytest.approx(12.0)
    assert reserve["duration_ms"] == pytest.approx(15.0)
    assert reserve["children"] == []
    assert all(not node["note"] for node in (root, client, orders, reserve))


def test_a_span_whose_parent_is_missing_is_an_orphan_at_the_root(tmp_path: Path) -> None:
    write(
        tmp_path,
        "orders-1",
        line(
            "orders",
            span(T3, 3, 0xDEAD, "POST /orders", 5, 36),
            span(T3, 4, 3, "POST inventory", 10, 30, kind=3),
        ),
        line("orders", span(T3, 7, None, "GET /orders", 1, 2)),
    )
    roots = trace_data(pick_trace(load_traces(tmp_path), T3))
    assert [r["name"] for r in roots] == ["GET /orders", "POST /orders"]
    assert roots[0]["note"] == ""
    assert roots[1]["note"] == "parent span 000000000000dead is in no trace file"
    assert [c["name"] for c in roots[1]["children"]] == ["POST inventory"]


def test_parents_that_loop_are_still_shown_once(tmp_path: Path) -> None:
    write(tmp_path, "x-1", line("x", span(T3, 1, 2, "a", 0, 5), span(T3, 2, 1, "b", 1, 4)))
    trace = pick_trace(load_traces(tmp_path))
    (root,) = trace_data(trace)
    assert (root["name"], root["note"]) == ("a", "parent span 0000000000000002 is part of a loop of parents")
    assert [c["name"] for c in root["children"]] == ["b"]
    assert trace.spans == 2


def test_damaged_lines_become_problems_and_the_rest_is_kept(tmp_path: Path) -> None:
    good = line("orders", span(T1, 3, None, "POST /orders", 5, 36))
    bad_id = line("orders", span("nothex", 4, None, "x", 1, 2), span(T1, 5, 3, "kept", 6, 7))
    path = write(tmp_path, "orders-1", good, "{not json\n", '{"hello": 1}\n', "\n", bad_id, good[:40])
    found = load_traces(tmp_path)
    messages = [str(p) for p in found.problems]
    assert messages == [
        "orders-1.jsonl line 2: not JSON at column 2: Expecting property name enclosed in double quotes",
        "orders-1.jsonl line 3: not an OTLP/JSON document (no resourceSpans list)",
        "orders-1.jsonl line 5: span skipped: traceId 'nothex' is not 32 hex digits",
        "orders-1.jsonl line 6: not JSON at column 34: Unterminated string starting at"
        " -- an unfinished last line?",
    ]
    assert all(p.file == path for p in found.problems)
    (root,) = trace_data(pick_trace(found, T1))
    assert [c["name"] for c in root["children"]] == ["kept"]


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ({"spanId": "12"}, "spanId '12' is not 16 hex digits"),
        ({"parentSpanId": "zz"}, "parentSpanId 'zz' is not 16 hex digits"),
        ({"startTimeUnixNano": "soon"}, "startTimeUnixNano is 'soon', not an integer"),
        ({"endTimeUnixNano": None}, "endTimeUnixNano is None, not an integer"),
    ],
)
def test_each_kind_of_bad_span_is_named(broken: dict, message: str) -> None:
    spans, problems = parse_line(line("orders", {**span(T1, 1, None, "x", 0, 1), **broken}))
    assert spans == []
    assert problems == [f"span skipped: {message}"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
KEYS = (
    "resourceSpans",
    "resource",
    "attributes",
    "scopeSpans",
    "spans",
    "traceId",
    "spanId",
    "value",
    "status",
)


@given(document=JSON)
def test_any_json_line_gives_problems_never_an_exception(document: object) -> None:
    spans, problems = parse_line(json.dumps(document))
    assert all(isinstance(p, str) for p in problems)
    assert spans == [] or isinstance(document, dict)


@given(data=st.data(), key=st.sampled_from(KEYS), value=JSON)
def test_a_valid_line_damaged_anywhere_gives_spans_or_problems(
    data: st.DataObject, key: str, value: object
) -> None:
    """Replace one node anywhere in a valid document (or add a known key to an object) with any JSON."""
    document = json.loads(line("orders", span(T1, 1, None, "x", 0, 1), span(T1, 2, 1, "y", 0, 1)))
    node: dict | list = document
    while True:
        slots = list(range(len(node))) if isinstance(node, list) else list(node)
        slot = data.draw(st.sampled_from(slots))
        child = node[slot]
        if not isinstance(child, dict | list) or not child or data.draw(st.booleans()):
            break
        node = child
    if isinstance(node, dict) and data.draw(st.booleans()):
        node[key] = value
    else:
        node[slot] = value
    spans, problems = parse_line(json.dumps(document))
    assert all(isinstance(p, str) for p in problems)
    assert len(spans) <= 2
    assert all(len(s.trace_id) == 32 and len(s.span_id) == 16 and s.end_ns >= s.start_ns for s in spans)


def test_the_pick_most_recent_by_prefix_and_by_services(tmp_path: Path) -> None:
    shop_trace(tmp_path)
    found = load_traces(tmp_path)
    assert pick_trace(found).trace_id == T2  # started last
    assert pick_trace(found, min_services=3).trace_id == T1
    assert pick_trace(found, T1[:30].upper()).trace_id == T1
    with pytest.raises(
        TraceNotFoundError, match=f"2 trace ids start with '4bf9' \\({T1}, {T2}\\); give more digits"
    ):
        pick_trace(found, "4bf9")
    with pytest.raises(TraceNotFoundError, match="no trace id starts with 'abc' \\(among 2 traces\\)"):
        pick_trace(found, "abc")
    with pytest.raises(
        TraceNotFoundError, match="no trace touches 4 services; the widest of the 2 touches 3"
    ):
        pick_trace(found, min_services=4)


def test_no_trace_files_says_so(tmp_path: Path) -> None:
    with pytest.raises(
        TraceNotFoundError, match=r"no spans found: 0 trace file\(s\) in .* \(is the stack up\?\)"
    ):
        pick_trace(load_traces(tmp_path))


def test_the_rich_tree_shows_services_timings_and_marks(tmp_path: Path) -> None:
    shop_trace(tmp_path)
    write(tmp_path, "orders-2", line("orders", span(T1, 8, 0xBEEF, "GET /orders/[7]", 50, 51)))
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(render_trace(pick_trace(load_traces(tmp_path), T1)))
    text = out.getvalue()
    assert f"trace {T1}  51.0 ms, 6 spans, services: gateway, orders, inventory" in text
    assert "gateway  POST /api/orders  40.0 ms  at +0.0 ms, server  201" in text
    assert "inventory  POST /inventory/reserve  15.0 ms  at +12.0 ms, server  error" in text
    assert "GET /orders/[7]" in text  # markup-like names are escaped, not swallowed
    assert "orphan: parent span 000000000000beef is in no trace file" in text
    lines = text.splitlines()
    depth = {
        name: next(len(row) - len(row.lstrip("│├└─ ")) for row in lines if name in row)
        for name in ("POST /api/orders", "POST /orders ", "POST /inventory/reserve")
    }
    assert depth["POST /api/orders"] < depth["POST /orders "] < depth["POST /inventory/reserve"]
