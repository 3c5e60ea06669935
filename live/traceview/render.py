"""A trace for people: a rich tree, and the same tree as plain data.

Each span shows its service, its name, how long it took and when it started relative to the start of
the trace (milliseconds), its kind (server, client, ...), its HTTP status when it has one, and a mark
when it ended in error or is an orphan.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.tree import Tree

from live.traceview.trees import SpanNode, Trace
from simulator.otlp import STATUS_ERROR

__all__ = ["KIND_NAMES", "render_trace", "trace_data"]

KIND_NAMES = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_STATUS_KEYS = ("http.response.status_code", "http.status_code")


def _ms(nanoseconds: int) -> float:
    return nanoseconds / 1e6


def _node_data(node: SpanNode, start_ns: int) -> dict[str, Any]:
    span = node.span
    status = next((span.attributes[key] for key in _STATUS_KEYS if key in span.attributes), None)
    return {
        "service": span.service,
        "instance": span.instance,
        "name": span.name,
        "span_id": span.span_id,
        "kind": KIND_NAMES.get(span.kind, "unspecified"),
        "offset_ms": _ms(span.start_ns - start_ns),
        "duration_ms": _ms(span.duration_ns),
        "http_status": status,
        "error": span.status == STATUS_ERROR,
        "note": node.note,
        "children": [_node_data(child, start_ns) for child in node.children],
    }


def trace_data(trace: Trace) -> list[dict[str, Any]]:
    """The trace's roots as nested dicts: ``service``, ``instance``, ``name``, ``span_id``, ``kind``,
    ``offset_ms`` (from the start of the trace), ``duration_ms``, ``http_status`` (None without one),
    ``error``, ``note`` (why it is at the root, for an orphan) and ``children``."""
    return [_node_data(root, trace.start_ns) for root in trace.roots]


def _label(data: dict[str, Any]) -> str:
    parts = [
        f"[bold cyan]{escape(data['service'])}[/]",
        escape(data["name"]),
        f"[green]{data['duration_ms']:.1f} ms[/]",
        f"[dim]at +{data['offset_ms']:.1f} ms, {data['kind']}[/]",
    ]
    if data["http_status"] is not None:
        parts.append(escape(str(data["http_status"])))
    if data["error"]:
        parts.append("[bold red]error[/]")
    if data["note"]:
        parts.append(f"[yellow]orphan: {escape(data['note'])}[/]")
    return "  ".join(parts)


def render_trace(trace: Trace) -> Tree:
    """The trace as a rich Tree under a heading with its id, duration, span count and services."""
    heading = (
        f"[bold]trace {trace.trace_id}[/]  {_ms(trace.duration_ns):.1f} ms, {trace.spans} spans, "
        f"services: {escape(', '.join(trace.services))}"
    )
    tree = Tree(heading)
    pending = [(tree, data) for data in trace_data(trace)]
    while pending:
        parent, data = pending.pop(0)
        branch = parent.add(_label(data))
        pending += [(branch, child) for child in data["children"]]
    return tree
