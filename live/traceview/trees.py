"""Spans grouped into traces, each a tree by parent span id, and the choice of the trace to show.

A span's children are the spans whose ``parent_id`` is its id, in order of start. A span whose parent
is in no trace file (not written yet, lost with a killed process, or sampled out upstream) is kept as
an *orphan* at the root, with a note naming the missing parent, so no span is ever hidden. Damaged
files could even make parents form a loop; the earliest span of such a loop is then shown at the root
the same way. When a span id appears twice in a trace, the first one read is used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from live.traceview.spans import Problem, Span, read_spans, trace_files

__all__ = ["SpanNode", "Trace", "TraceNotFoundError", "TraceSet", "build_traces", "load_traces", "pick_trace"]


@dataclass
class SpanNode:
    """A span and the spans it caused; ``note`` says why a non-root span is shown at the root."""

    span: Span
    children: list[SpanNode] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class Trace:
    """One trace: its root spans (true roots and orphans) in order of start, and its time span."""

    trace_id: str
    roots: tuple[SpanNode, ...]
    spans: int
    start_ns: int
    end_ns: int
    services: tuple[str, ...]  # in order of their first span

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


@dataclass(frozen=True)
class TraceSet:
    """The traces of a state folder, and what could not be read."""

    folder: Path
    files: int
    traces: Mapping[str, Trace]
    problems: tuple[Problem, ...]


class TraceNotFoundError(LookupError):
    """No trace matches the request (the message says why, and what there is)."""


def _tree(trace_id: str, spans: list[Span]) -> Trace:
    by_id: dict[str, Span] = {}
    for span in sorted(spans, key=lambda s: s.start_ns):
        by_id.setdefault(span.span_id, span)
    children: dict[str, list[Span]] = {}
    for span in by_id.values():
        children.setdefault(span.parent_id, []).append(span)
    placed: set[str] = set()

    def grow(span: Span, note: str = "") -> SpanNode:
        placed.add(span.span_id)
        node = SpanNode(span, note=note)
        stack = [node]
        while stack:  # iterative: a deep trace must not hit the recursion limit
            current = stack.pop()
            for child in children.get(current.span.span_id, []):
                if child.span_id not in placed:
                    placed.add(child.span_id)
                    current.children.append(SpanNode(child))
                    stack.append(current.children[-1])
        return node

    roots = []
    for span in by_id.values():  # in order of start
        if span.span_id in placed:
            continue
        if not span.parent_id:
            roots.append(grow(span))
        elif span.parent_id not in by_id:
            roots.append(grow(span, f"parent span {span.parent_id} is in no trace file"))
    for span in by_id.values():
        if span.span_id not in placed:  # only spans whose parents loop back on them are left
            roots.append(grow(span, f"parent span {span.parent_id} is part of a loop of parents"))
    roots.sort(key=lambda node: node.span.start_ns)
    return Trace(
        trace_id=trace_id,
        roots=tuple(roots),
        spans=len(by_id),
        start_ns=min(s.start_ns for s in by_id.values()),
        end_ns=max(s.end_ns for s in by_id.values()),
        services=tuple(dict.fromkeys(s.service for s in by_id.values())),
    )


def build_traces(spans: Iterable[Span]) -> dict[str, Trace]:
    """The spans grouped by trace id, each trace built into its tree."""
    grouped: dict[str, list[Span]] = {}
    for span in spans:
        grouped.setdefault(span.trace_id, []).append(span)
    return {trace_id: _tree(trace_id, found) for trace_id, found in grouped.items()}


def load_traces(state_dir: Path) -> TraceSet:
    """Every trace in ``<state_dir>/traces/*.jsonl``, with the problems met reading the files."""
    spans, problems = read_spans(state_dir)
    return TraceSet(state_dir / "traces", len(trace_files(state_dir)), build_traces(spans), tuple(problems))


def pick_trace(found: TraceSet, trace_id: str | None = None, min_services: int = 1) -> Trace:
    """The trace with id (or unique id prefix) ``trace_id``; without one, the most recently started
    trace that touches at least ``min_services`` services. TraceNotFoundError says why none fits."""
    traces = found.traces
    if not traces:
        where = f"{found.files} trace file(s) in {found.folder}"
        raise TraceNotFoundError(
            f"no spans found: {where}" + (" (is the stack up?)" if not found.files else "")
        )
    if trace_id is not None:
        wanted = trace_id.strip().lower()
        matches = [t for t in traces if t.startswith(wanted)] if wanted else []
        if len(matches) == 1:
            return traces[matches[0]]
        if not matches:
            raise TraceNotFoundError(f"no trace id starts with {trace_id!r} (among {len(traces)} traces)")
        shown = ", ".join(sorted(matches)[:5]) + (", ..." if len(matches) > 5 else "")
        raise TraceNotFoundError(
            f"{len(matches)} trace ids start with {trace_id!r} ({shown}); give more digits"
        )
    wide = [t for t in traces.values() if len(t.services) >= min_services]
    if not wide:
        most = max(len(t.services) for t in traces.values())
        raise TraceNotFoundError(
            f"no trace touches {min_services} services; the widest of the {len(traces)} touches {most}"
        )
    return max(wide, key=lambda t: t.start_ns)
