"""Matchers for the shapes several contracts share: timestamps, error bodies, order lines.

A consumer asks for the *type* or the *pattern* of a value, not the example: ``match.int(3)`` accepts
any integer, ``match.regex(...)`` any matching string, ``match.each_like(x)`` a list (at least one
element) whose every element looks like ``x``. The examples go into the pact file, are what the mock
server answers with, and are what the verifier sends when the consumer's *request* holds them.
"""

from __future__ import annotations

from typing import Any

from pact import match

__all__ = ["ISO_TIME", "error_body", "line", "timestamp"]

ISO_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
"""An ISO 8601 date and time with an offset, as the services write them."""


def timestamp(example: str = "2026-01-02T03:04:05.678+00:00") -> Any:
    return match.regex(example, regex=ISO_TIME)


def error_body(status: int, code: str | None = None) -> dict[str, Any]:
    """The stack's common error shape (:mod:`live.common.errors`): a message, the status, a code."""
    body: dict[str, Any] = {"error": match.str("what went wrong"), "status": match.int(status)}
    if code is not None:
        body["code"] = code
    return body


def line(sku: str = "KB-001", quantity: int = 2) -> dict[str, Any]:
    """One order line: ``{sku, quantity}``."""
    return {"sku": match.str(sku), "quantity": match.int(quantity)}
