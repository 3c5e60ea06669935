"""Distributed tracing of the live stack: OpenTelemetry spans, W3C ``traceparent``, OTLP/JSON files.

Each app gets its own :class:`opentelemetry.sdk.trace.TracerProvider` (not the global one: a test
runs several apps in one process, and each must write spans under its own service name). Ended
spans are queued and written in batches by a background thread (``BatchSpanProcessor``, at most
:data:`EXPORT_DELAY_MS` after they end, and all of them when the app shuts down) by
:class:`OtlpJsonFileExporter`, one OTLP/JSON ``ExportTraceServiceRequest`` per batch and line of
``traces/<instance>.jsonl``, the shape the simulator's trace export and ``servicelab live trace``
read; Jaeger and the OpenTelemetry Collector accept the same documents. Writing each span as it ended
cost a third of the gateway's CPU per request; a batch shares one encoding call and one write.

Context travels between services in the W3C ``traceparent`` header: a server span continues the
trace its caller started (:func:`extract`), and a client span's context is written into the
outgoing request's headers (:func:`inject`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import IO

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from live.common.settings import InstanceSettings
from simulator.otlp import key_values

__all__ = [
    "EXPORT_DELAY_MS",
    "SCOPE",
    "OtlpJsonFileExporter",
    "extract",
    "inject",
    "make_tracer",
    "otlp_span",
]

SCOPE = "servicelab.live"
EXPORT_DELAY_MS = 200
"""The longest an ended span waits in memory before it is in the trace file."""
_PROPAGATOR = TraceContextTextMapPropagator()


def otlp_span(span: ReadableSpan) -> dict[str, object]:
    """One SDK span in OTLP/JSON (hex ids, nanosecond timestamps as strings)."""
    context = span.get_span_context()
    document: dict[str, object] = {
        "traceId": format(context.trace_id, "032x"),
        "spanId": format(context.span_id, "016x"),
        "parentSpanId": format(span.parent.span_id, "016x") if span.parent is not None else "",
        "name": span.name,
        "kind": span.kind.value + 1,  # the SDK counts from INTERNAL=0, OTLP from INTERNAL=1
        "startTimeUnixNano": str(span.start_time),
        "endTimeUnixNano": str(span.end_time),
        "attributes": key_values(dict(span.attributes or {})),
        "status": {"code": span.status.status_code.value},
    }
    if span.status.description:
        document["status"] = {"code": span.status.status_code.value, "message": span.status.description}
    return document


class OtlpJsonFileExporter(SpanExporter):
    """Appends each batch of spans to a file as one OTLP/JSON line (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file: IO[str] | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        by_resource: dict[tuple[tuple[str, object], ...], list[dict[str, object]]] = {}
        for span in spans:
            key = tuple(sorted(span.resource.attributes.items()))
            by_resource.setdefault(key, []).append(otlp_span(span))
        document = {
            "resourceSpans": [
                {
                    "resource": {"attributes": key_values(dict(resource))},
                    "scopeSpans": [{"scope": {"name": SCOPE}, "spans": found}],
                }
                for resource, found in by_resource.items()
            ]
        }
        line = json.dumps(document, separators=(",", ":")) + "\n"
        with self._lock:
            if self._file is None:
                self._file = self.path.open("a", encoding="utf-8")
            self._file.write(line)
            self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def make_tracer(settings: InstanceSettings) -> tuple[TracerProvider, Tracer]:
    """A tracer whose spans carry the instance's service name and id and go to its trace file."""
    resource = Resource.create({"service.name": settings.service, "service.instance.id": settings.instance})
    provider = TracerProvider(resource=resource)
    exporter = OtlpJsonFileExporter(settings.trace_file)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=EXPORT_DELAY_MS))
    return provider, provider.get_tracer(SCOPE)


def extract(headers: Mapping[str, str]) -> Context:
    """The caller's trace context from incoming headers (an empty context starts a new trace)."""
    return _PROPAGATOR.extract(carrier={key.lower(): value for key, value in headers.items()})


def inject(headers: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Write the current span's context (``traceparent``) into outgoing ``headers``; returns them."""
    _PROPAGATOR.inject(carrier=headers)
    return headers
