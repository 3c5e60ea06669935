"""Spans from the stack's trace files, read forgivingly.

Every process appends one OTLP/JSON ``ExportTraceServiceRequest`` per line to
``<state_dir>/traces/<instance>.jsonl`` (see :mod:`live.common.tracing`). A line may be cut short (a
process still writing it, or killed mid-line) or damaged; such a line becomes a :class:`Problem` naming
the file, the line and what is wrong, and every readable span of every other line is kept.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Problem", "Span", "parse_line", "read_spans", "trace_files"]

_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_SPAN_ID = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True)
class Span:
    """One span, with the service and instance of the process that wrote it (times in ns since epoch)."""

    trace_id: str
    span_id: str
    parent_id: str  # "" for a span that starts its trace
    name: str
    service: str
    instance: str
    kind: int  # OTLP: 1 internal, 2 server, 3 client, 4 producer, 5 consumer
    start_ns: int
    end_ns: int
    status: int  # OTLP: 0 unset, 1 ok, 2 error
    attributes: Mapping[str, object] = field(default_factory=dict, compare=False)

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


@dataclass(frozen=True)
class Problem:
    """A line (or a span in it) that could not be read."""

    file: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file.name} line {self.line}: {self.message}"


class UnreadableError(ValueError):
    """What is wrong with one span (the message)."""


def _value(any_value: object) -> object:
    if not isinstance(any_value, dict) or not any_value:
        return None
    kind, value = next(iter(any_value.items()))
    if kind == "intValue":
        with contextlib.suppress(TypeError, ValueError):
            return int(value)  # OTLP/JSON writes 64-bit integers as strings
    return value


def _attributes(items: object) -> dict[str, object]:
    if not isinstance(items, list):
        return {}
    return {str(i["key"]): _value(i.get("value")) for i in items if isinstance(i, dict) and "key" in i}


def _nanos(span: Mapping[str, Any], key: str) -> int:
    try:
        return int(span[key])
    except KeyError:
        raise UnreadableError(f"no {key}") from None
    except (TypeError, ValueError):
        raise UnreadableError(f"{key} is {span[key]!r}, not an integer") from None


def _span(span: object, service: str, instance: str) -> Span:
    if not isinstance(span, dict):
        raise UnreadableError("a span is not a JSON object")
    trace_id, span_id = str(span.get("traceId", "")).lower(), str(span.get("spanId", "")).lower()
    parent_id = str(span.get("parentSpanId") or "").lower()
    if not _TRACE_ID.match(trace_id):
        raise UnreadableError(f"traceId {span.get('traceId')!r} is not 32 hex digits")
    if not _SPAN_ID.match(span_id):
        raise UnreadableError(f"spanId {span.get('spanId')!r} is not 16 hex digits")
    if parent_id and not _SPAN_ID.match(parent_id):
        raise UnreadableError(f"parentSpanId {span.get('parentSpanId')!r} is not 16 hex digits")
    start, end = _nanos(span, "startTimeUnixNano"), _nanos(span, "endTimeUnixNano")
    status = span.get("status")
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=parent_id,
        name=str(span.get("name", "")),
        service=service,
        instance=instance,
        kind=int(span.get("kind", 0) or 0),
        start_ns=start,
        end_ns=max(start, end),
        status=int(status.get("code", 0) or 0) if isinstance(status, dict) else 0,
        attributes=_attributes(span.get("attributes")),
    )


def parse_line(text: str) -> tuple[list[Span], list[str]]:
    """The spans of one line of a trace file, and what was wrong with the parts that could not be read."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        return [], [f"not JSON at column {error.colno}: {error.msg}"]
    if not isinstance(document, dict) or not isinstance(document.get("resourceSpans"), list):
        return [], ["not an OTLP/JSON document (no resourceSpans list)"]
    spans: list[Span] = []
    problems: list[str] = []
    for resource in document["resourceSpans"]:
        scopes = resource.get("scopeSpans") if isinstance(resource, dict) else None
        if not isinstance(scopes, list):
            problems.append("a resourceSpans entry has no scopeSpans list")
            continue
        meta = resource.get("resource")
        attributes = _attributes(meta.get("attributes") if isinstance(meta, dict) else None)
        service = str(attributes.get("service.name") or "unknown")
        instance = str(attributes.get("service.instance.id") or service)
        for scope in scopes:
            found = scope.get("spans") if isinstance(scope, dict) else None
            if not isinstance(found, list):
                problems.append("a scopeSpans entry has no spans list")
                continue
            for span in found:
                try:
                    spans.append(_span(span, service, instance))
                except (UnreadableError, TypeError, ValueError, AttributeError) as problem:
                    problems.append(f"span skipped: {problem}")
    return spans, problems


def trace_files(state_dir: Path) -> list[Path]:
    """The stack's trace files, ``<state_dir>/traces/*.jsonl``, by name."""
    return sorted((state_dir / "traces").glob("*.jsonl"))


def read_spans(state_dir: Path) -> tuple[list[Span], list[Problem]]:
    """Every readable span of every trace file, and a :class:`Problem` for each part that was not."""
    spans: list[Span] = []
    problems: list[Problem] = []
    for path in trace_files(state_dir):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            problems.append(Problem(path, 0, f"cannot be read ({error.strerror})"))
            continue
        lines = text.split("\n")
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            found, wrong = parse_line(line)
            spans += found
            last = number == len(lines)  # no newline after it: the writer may not have finished it
            problems += [
                Problem(
                    path, number, f"{message} -- an unfinished last line?" if last and not found else message
                )
                for message in wrong
            ]
    return spans, problems
