"""Inventory's OpenAPI 3 document, written by hand (aiohttp does not derive one from the handlers)."""

from __future__ import annotations

from typing import Any

from live.inventory.requests import MAX_LINES, MAX_QUANTITY

__all__ = ["openapi_document"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


_REQUEST_ID = {
    "name": "request_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The request_id the reservation was made with.",
}

_SCHEMAS: dict[str, Any] = {
    "Item": {
        "type": "object",
        "required": ["sku", "name", "available", "reserved"],
        "properties": {
            "sku": {"type": "string"},
            "name": {"type": "string"},
            "available": {"type": "integer", "minimum": 0, "description": "Units free to reserve."},
            "reserved": {"type": "integer", "minimum": 0, "description": "Units held by reservations."},
        },
    },
    "Sales": {
        "type": "object",
        "required": ["sold", "events"],
        "properties": {
            "sold": {
                "type": "object",
                "additionalProperties": {"type": "integer"},
                "description": "Net units sold per sku: placed minus cancelled orders' quantities.",
            },
            "events": {"type": "integer", "minimum": 0, "description": "Distinct order events counted."},
        },
    },
    "Line": {
        "type": "object",
        "required": ["sku", "quantity"],
        "properties": {
            "sku": {"type": "string", "minLength": 1},
            "quantity": {"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY},
        },
    },
    "ReservationRequest": {
        "type": "object",
        "required": ["request_id", "order_id", "items"],
        "properties": {
            "request_id": {
                "type": "string",
                "minLength": 1,
                "description": "Idempotency key: a repeat with the same body replays the first result.",
            },
            "order_id": {"type": "string", "minLength": 1},
            "items": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_LINES,
                "items": _ref("Line"),
                "description": "Distinct skus; all are reserved or none.",
            },
        },
    },
    "Reservation": {
        "type": "object",
        "required": ["id", "request_id", "order_id", "status", "items", "created_at"],
        "properties": {
            "id": {"type": "string"},
            "request_id": {"type": "string"},
            "order_id": {"type": "string"},
            "status": {"type": "string", "enum": ["reserved", "released"]},
            "items": {"type": "array", "items": _ref("Line")},
            "created_at": {"type": "string", "format": "date-time"},
            "released_at": {"type": "string", "format": "date-time", "nullable": True},
        },
    },
    "Error": {
        "type": "object",
        "required": ["error", "status", "code"],
        "properties": {
            "error": {"type": "string", "description": "What went wrong, for people."},
            "status": {"type": "integer", "description": "The HTTP status, repeated."},
            "code": {"type": "string", "description": "What went wrong, for programs (out_of_stock, ...)."},
            "field": {"type": "string", "description": "The invalid field, for invalid_request."},
            "sku": {"type": "string", "description": "The sku that failed, for out_of_stock/unknown_sku."},
            "requested": {"type": "integer"},
            "available": {"type": "integer"},
        },
    },
}

_PATHS: dict[str, Any] = {
    "/inventory/items": {
        "get": {
            "summary": "List every item with its stock",
            "operationId": "listItems",
            "responses": {"200": _json({"type": "array", "items": _ref("Item")}, "The items, by sku.")},
        }
    },
    "/inventory/items/{sku}": {
        "get": {
            "summary": "One item's stock",
            "operationId": "getItem",
            "parameters": [{"name": "sku", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _json(_ref("Item"), "The item."), "404": _error("No such sku.")},
        }
    },
    "/inventory/sales": {
        "get": {
            "summary": "Units sold per sku, from the orders stream (each event counted once)",
            "operationId": "getSales",
            "responses": {"200": _json(_ref("Sales"), "The sales ledger.")},
        }
    },
    "/inventory/reservations": {
        "post": {
            "summary": "Reserve stock for every line, or for none",
            "operationId": "reserve",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("ReservationRequest")}},
            },
            "responses": {
                "201": _json(_ref("Reservation"), "Reserved."),
                "200": _json(_ref("Reservation"), "A repeat of an earlier request: its reservation."),
                "400": _error("The body is not JSON."),
                "409": _error("A line is short of stock or names an unknown sku; nothing was reserved."),
                "422": _error("A field is invalid, or the request_id was used with a different body."),
            },
        }
    },
    "/inventory/reservations/{request_id}/release": {
        "post": {
            "summary": "Give a reservation's stock back (idempotent)",
            "operationId": "release",
            "parameters": [_REQUEST_ID],
            "responses": {
                "200": _json(_ref("Reservation"), "Released (now or earlier)."),
                "404": _error("No reservation was made under this request_id."),
            },
        }
    },
}


def openapi_document() -> dict[str, Any]:
    """The document served at ``/openapi.json``."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "servicelab inventory",
            "version": "1.0.0",
            "description": "Stock levels and idempotent all-or-nothing reservations.",
        },
        "paths": _PATHS,
        "components": {"schemas": _SCHEMAS},
    }
