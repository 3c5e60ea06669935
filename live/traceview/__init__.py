"""``servicelab live trace``: the span trees of the stack's requests, read from its trace files.

``spans.py`` reads ``<state_dir>/traces/*.jsonl`` forgivingly (damaged lines become problems with
their file and line); ``trees.py`` builds each trace's tree by parent span id and picks the trace to
show; ``render.py`` draws it as a rich tree (and gives the same tree as data).
"""

from live.traceview.render import KIND_NAMES, render_trace, trace_data
from live.traceview.spans import Problem, Span, parse_line, read_spans, trace_files
from live.traceview.trees import (
    SpanNode,
    Trace,
    TraceNotFoundError,
    TraceSet,
    build_traces,
    load_traces,
    pick_trace,
)

__all__ = [
    "KIND_NAMES",
    "Problem",
    "Span",
    "SpanNode",
    "Trace",
    "TraceNotFoundError",
    "TraceSet",
    "build_traces",
    "load_traces",
    "parse_line",
    "pick_trace",
    "read_spans",
    "render_trace",
    "trace_data",
    "trace_files",
]
