"""The small vocabulary of OTLP/JSON that both the simulator's trace export and the live stack write.

OTLP/JSON is the JSON mapping of OpenTelemetry's protobuf messages, with two quirks a hand-written
encoder must respect: trace and span ids are lowercase hex (not base64), and 64-bit integers
(timestamps, ``intValue``) are written as strings.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_CONSUMER",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_SERVER",
    "STATUS_ERROR",
    "STATUS_OK",
    "STATUS_UNSET",
    "any_value",
    "key_values",
]

SPAN_KIND_INTERNAL, SPAN_KIND_SERVER, SPAN_KIND_CLIENT, SPAN_KIND_PRODUCER, SPAN_KIND_CONSUMER = 1, 2, 3, 4, 5
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2


def any_value(value: object) -> dict[str, object]:
    """An attribute value as an OTLP ``AnyValue``."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}  # OTLP/JSON writes 64-bit integers as strings
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def key_values(values: Mapping[str, object]) -> list[dict[str, object]]:
    """Attributes as an OTLP ``KeyValue`` list."""
    return [{"key": key, "value": any_value(value)} for key, value in values.items()]
