"""Reading request bodies the way Toxiproxy's Go server reads them into its structs.

Go's ``encoding/json`` shapes what the API accepts, and clients rely on it: keys match field names
exactly or, failing that, case-insensitively; unknown keys are ignored; ``null`` leaves a field as it
was; a value of the wrong JSON type is an error (an integer field takes only integer literals, so
``1.5`` and ``"1"`` are refused); the first JSON value of the body counts and what follows it is
ignored; an empty body is the error ``EOF``. Every failure here is a 400 ``bad request body: ...``.
"""

from __future__ import annotations

import json
from typing import Any

from chaos.toxiproxy.errors import bad_request_body

__all__ = ["FieldKind", "assign", "lookup", "parse_body", "require_object_list"]

FieldKind = type[str] | type[bool] | type[int] | type[float]
"""The Go field types the API uses: string, bool, int64 and float32."""

_GO_NAMES = {str: "string", bool: "bool", int: "int64", float: "float32"}
_INT64 = 2**63


def _reject_constant(name: str) -> float:
    raise ValueError(f"invalid character {name[0]!r} looking for beginning of value")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def parse_body(raw: bytes) -> Any:
    """The first JSON value in ``raw`` (ApiError 400 when there is none or it is malformed)."""
    try:
        text = raw.decode("utf-8").lstrip()
    except UnicodeDecodeError as error:
        raise bad_request_body(f"invalid UTF-8 at byte {error.start}") from None
    if not text:
        raise bad_request_body("EOF")
    try:
        value, _ = _DECODER.raw_decode(text)
    except ValueError as error:
        raise bad_request_body(str(error)) from None
    return value


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    return "number"


def _convert(value: Any, kind: FieldKind, where: str) -> Any:
    ok = {
        str: isinstance(value, str),
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool) and -_INT64 <= value < _INT64,
        float: isinstance(value, int | float) and not isinstance(value, bool),
    }[kind]
    if not ok:
        shown = value if _json_kind(value) == "number" else _json_kind(value)
        raise bad_request_body(
            f"json: cannot unmarshal {shown} into Go struct field {where} of type {_GO_NAMES[kind]}"
        )
    return float(value) if kind is float else value


def assign(target: dict[str, Any], fields: dict[str, FieldKind], data: Any, what: str) -> None:
    """Set ``target[field]`` from the JSON object ``data`` for every field it names (see the module doc).

    ``what`` names the Go type in messages (``Proxy``, ``LatencyToxic``). Raises ApiError (400).
    """
    if data is None:
        return
    if not isinstance(data, dict):
        raise bad_request_body(f"json: cannot unmarshal {_json_kind(data)} into Go value of type {what}")
    folded = {name.lower(): name for name in fields}
    for key, value in data.items():
        name = key if key in fields else folded.get(key.lower())
        if name is None or value is None:
            continue
        target[name] = _convert(value, fields[name], f"{what}.{name}")


def require_object_list(data: Any, what: str) -> list[Any]:
    """``data`` as a JSON array (ApiError 400 otherwise)."""
    if not isinstance(data, list):
        raise bad_request_body(f"json: cannot unmarshal {_json_kind(data)} into Go value of type []{what}")
    return data


def lookup(data: Any, name: str) -> Any:
    """The value of key ``name`` in a JSON object, matched as Go matches struct fields (else None)."""
    if not isinstance(data, dict):
        return None
    if name in data:
        return data[name]
    return next((value for key, value in data.items() if key.lower() == name), None)
