"""Each request of a load run starts a W3C trace of its own, and its row records the trace id.

The generator sends ``traceparent: 00-<trace id>-<span id>-01`` (sampled) with every HTTP request of
an action; the gateway's server span continues that trace, so the spans of any row -- the slowest,
a failed one -- are found with ``servicelab live trace <trace id>``. The header is added by an aiohttp
client middleware from a context variable each request's task sets, so actions need not know about it.

The generator's own span, the parent of the gateway's, is the first 16 hex digits of the trace id
(random, like any span id). :func:`write_spans` writes these spans -- one CLIENT span per sent
request, service ``loadgen``, from its send to its answer -- to a trace file of the stack, so a trace
starts where the user's wait started instead of at an orphaned gateway span.
"""

from __future__ import annotations

import json
import secrets
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import aiohttp

from live.loadgen.results import LoadResult
from simulator.otlp import SPAN_KIND_CLIENT, STATUS_ERROR, STATUS_OK, key_values

__all__ = ["SCOPE", "add_traceparent", "span_of", "start_trace", "write_spans"]

SCOPE = "servicelab.loadgen"

_TRACEPARENT: ContextVar[str] = ContextVar("servicelab_load_traceparent", default="")


def start_trace() -> str:
    """Start a new trace for the requests the current task makes from now on; returns its id."""
    trace_id = secrets.token_hex(16)
    _TRACEPARENT.set(f"00-{trace_id}-{span_of(trace_id)}-01")
    return trace_id


def span_of(trace_id: str) -> str:
    """The id of the generator's span in the trace ``trace_id`` (the parent of the gateway's)."""
    return trace_id[:16]


async def add_traceparent(
    request: aiohttp.ClientRequest, send: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """A client middleware: the current task's ``traceparent`` on each request of a session."""
    traceparent = _TRACEPARENT.get()
    if traceparent:
        request.headers["traceparent"] = traceparent
    return await send(request)


def _otlp_span(row: Any, started_ns: int) -> dict[str, object]:
    attributes: dict[str, object] = {
        "servicelab.load.request": int(row.request),
        "servicelab.load.action": str(row.action),
        "servicelab.load.outcome": str(row.outcome),
    }
    if row.status:
        attributes["http.response.status_code"] = int(row.status)
    ok = row.outcome == "ok"
    return {
        "traceId": row.trace_id,
        "spanId": span_of(row.trace_id),
        "parentSpanId": "",
        "name": f"load {row.action}",
        "kind": SPAN_KIND_CLIENT,
        "startTimeUnixNano": str(started_ns + round(row.sent * 1e9)),
        "endTimeUnixNano": str(started_ns + round((row.scheduled + row.latency) * 1e9)),
        "attributes": key_values(attributes),
        "status": {"code": STATUS_OK} if ok else {"code": STATUS_ERROR, "message": str(row.outcome)},
    }


def write_spans(result: LoadResult, path: Path, per_line: int = 500) -> Path:
    """Append the generator's span of every sent request to ``path`` (OTLP/JSON, ``per_line`` spans a
    line; the stack's trace files are ``<state_dir>/traces/*.jsonl``, so ``traces/loadgen.jsonl``)."""
    sent = result.requests[result.requests["trace_id"] != ""]
    resource = {"attributes": key_values({"service.name": "loadgen", "service.instance.id": "loadgen"})}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as file:
        for first in range(0, len(sent), per_line):
            rows = sent.iloc[first : first + per_line].itertuples(index=False)
            spans = [_otlp_span(row, result.started_ns) for row in rows]
            scope = {"scope": {"name": SCOPE}, "spans": spans}
            document = {"resourceSpans": [{"resource": resource, "scopeSpans": [scope]}]}
            file.write(json.dumps(document, separators=(",", ":")) + "\n")
    return path
