"""Checking a reservation request's JSON body, naming the first field that is wrong."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from live.inventory.store import Line

__all__ = ["MAX_LINES", "MAX_QUANTITY", "InvalidFieldError", "ReservationRequest", "parse_reservation"]

MAX_LINES = 100
MAX_QUANTITY = 1_000_000
MAX_ID_LENGTH = 200
MAX_SKU_LENGTH = 64


class InvalidFieldError(ValueError):
    """``field`` (a JSON path such as ``items[2].quantity``) is missing or has a wrong value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ReservationRequest:
    request_id: str
    order_id: str
    lines: tuple[Line, ...]


def _text(body: dict[str, Any], name: str, field: str, longest: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidFieldError(field, "required, a non-empty string")
    if len(value) > longest:
        raise InvalidFieldError(field, f"at most {longest} characters")
    return value


def _line(value: Any, field: str) -> Line:
    if not isinstance(value, dict):
        raise InvalidFieldError(field, "must be an object with sku and quantity")
    sku = _text(value, "sku", f"{field}.sku", MAX_SKU_LENGTH)
    quantity = value.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidFieldError(f"{field}.quantity", f"required, an integer from 1 to {MAX_QUANTITY}")
    return Line(sku, quantity)


def parse_reservation(body: Any) -> ReservationRequest:
    """The request in ``body`` (decoded JSON); raises :class:`InvalidFieldError` for the first bad field."""
    if not isinstance(body, dict):
        raise InvalidFieldError("body", "must be a JSON object")
    request_id = _text(body, "request_id", "request_id", MAX_ID_LENGTH)
    order_id = _text(body, "order_id", "order_id", MAX_ID_LENGTH)
    items = body.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_LINES:
        raise InvalidFieldError("items", f"required, a list of 1 to {MAX_LINES} lines")
    lines: list[Line] = []
    seen: set[str] = set()
    for i, value in enumerate(items):
        line = _line(value, f"items[{i}]")
        if line.sku in seen:
            raise InvalidFieldError(f"items[{i}].sku", f"sku {line.sku!r} appears twice; give it one line")
        seen.add(line.sku)
        lines.append(line)
    return ReservationRequest(request_id, order_id, tuple(lines))
