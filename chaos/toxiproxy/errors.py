"""The errors of the Toxiproxy HTTP API: a message and the HTTP status it is answered with.

Toxiproxy answers every failure as ``{"error": MESSAGE, "status": STATUS}``. The messages below are the
ones ``toxiproxy-server`` 2.x uses, so clients that match on them (its Go client does) keep working.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ApiError",
    "bad_request_body",
    "invalid_stream",
    "invalid_toxic_type",
    "missing_field",
    "proxy_exists",
    "proxy_not_found",
    "toxic_exists",
    "toxic_not_found",
]


@dataclass(frozen=True)
class ApiError(Exception):
    """An API failure: ``message`` is the body's ``error``, ``status`` its HTTP status."""

    message: str
    status: int

    def __str__(self) -> str:
        return self.message

    def as_json(self) -> dict[str, object]:
        return {"error": self.message, "status": self.status}


def bad_request_body(reason: str) -> ApiError:
    return ApiError(f"bad request body: {reason}", 400)


def missing_field(field: str) -> ApiError:
    return ApiError(f"missing required field: {field}", 400)


def proxy_not_found() -> ApiError:
    return ApiError("proxy not found", 404)


def proxy_exists() -> ApiError:
    return ApiError("proxy already exists", 409)


def invalid_stream() -> ApiError:
    return ApiError("stream was invalid, can be either upstream or downstream", 400)


def invalid_toxic_type() -> ApiError:
    return ApiError("invalid toxic type", 400)


def toxic_exists() -> ApiError:
    return ApiError("toxic already exists", 409)


def toxic_not_found() -> ApiError:
    return ApiError("toxic not found", 404)
