"""One error shape for every live server: ``{"error": message, "status": code, ...}``.

Clients (the gateway, the load generator, a learner with curl) read the same JSON whichever service
refused them. FastAPI's own ``{"detail": ...}`` bodies are rewritten to it; a validation error lists
each problem as ``location: message`` (``body.items.0.quantity: Input should be greater than 0``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["error_body", "install_json_errors", "validation_problems"]


def error_body(status: int, message: str, **extra: Any) -> dict[str, Any]:
    """The JSON body of an error answer."""
    return {"error": message, "status": status, **extra}


def validation_problems(errors: list[dict[str, Any]]) -> list[str]:
    """pydantic's error list as ``where: what`` lines."""
    return [".".join(str(part) for part in error["loc"]) + ": " + error["msg"] for error in errors]


def install_json_errors(app: FastAPI) -> None:
    """Answer HTTP and validation errors of ``app`` in the common error shape."""
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        detail = error.detail if isinstance(error.detail, str) else "request refused"
        extra = error.detail if isinstance(error.detail, dict) else {}
        body = error_body(error.status_code, extra.pop("error", detail), **extra)
        return JSONResponse(body, status_code=error.status_code, headers=error.headers)

    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = validation_problems(list(error.errors()))
        body = error_body(422, "invalid request: " + "; ".join(problems), problems=problems)
        return JSONResponse(body, status_code=422)

    app.add_exception_handler(HTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, invalid)  # type: ignore[arg-type]
