"""One error shape for every live server: ``{"error": message, "status": code, ...}``.

Clients (the gateway, the load generator, a learner with curl) read the same JSON whichever service
refused them. FastAPI's own ``{"detail": ...}`` bodies are rewritten to it; a validation error lists
each problem as ``location: message`` (``body.items.0.quantity: Input should be greater than 0``).
The app's OpenAPI document says so too: FastAPI's ``HTTPValidationError`` schema, which every
operation's 422 answer refers to, is replaced by :data:`VALIDATION_ERROR_SCHEMA`, so a client
generated from the document (or a schemathesis run) expects the body the service really sends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["VALIDATION_ERROR_SCHEMA", "error_body", "install_json_errors", "validation_problems"]

VALIDATION_ERROR_SCHEMA: dict[str, Any] = {
    "title": "ValidationError",
    "type": "object",
    "required": ["error", "status", "problems"],
    "properties": {
        "error": {"type": "string", "description": "every problem, in one sentence"},
        "status": {"type": "integer", "enum": [422]},
        "problems": {"type": "array", "items": {"type": "string"}, "description": "`location: message` each"},
    },
}


def error_body(status: int, message: str, **extra: Any) -> dict[str, Any]:
    """The JSON body of an error answer."""
    return {"error": message, "status": status, **extra}


def validation_problems(errors: list[dict[str, Any]]) -> list[str]:
    """pydantic's error list as ``where: what`` lines."""
    return [".".join(str(part) for part in error["loc"]) + ": " + error["msg"] for error in errors]


def install_json_errors(app: FastAPI) -> None:
    """Answer HTTP and validation errors of ``app`` in the common error shape (once: later calls no-op)."""
    if getattr(app.state, "json_errors", False):
        return
    app.state.json_errors = True
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
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            schemas = document.get("components", {}).get("schemas", {})
            if "HTTPValidationError" in schemas:
                schemas["HTTPValidationError"] = VALIDATION_ERROR_SCHEMA
                schemas.pop("ValidationError", None)  # only FastAPI's HTTPValidationError used it
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
