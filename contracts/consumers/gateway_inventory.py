"""Consumer tests of ``gateway -> inventory``: the catalogue reads the gateway forwards.

The gateway runs with the stack's route file; its clients (the load generator, a shop front) read
each item's ``sku`` and ``available`` (the load generator draws the skus it orders by stock), and a
404's ``code`` for an unknown sku. The gateway forwards answers below 500 unchanged, so what its
clients rely on is what the gateway needs of inventory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pact import match

from contracts.consumers.harness import fetch, gateway_before
from contracts.consumers.identity import FixedKeyVerifier, bearer
from contracts.consumers.mock import instance_of, mock_server, new_pact, write
from contracts.consumers.shapes import error_body

__all__ = ["TESTS"]

CONSUMER, PROVIDER = "gateway", "inventory"
SCOPES = ("inventory:read",)


def _item(sku: str = "KB-001", available: int = 100) -> dict[str, Any]:
    return {
        "sku": match.str(sku),
        "name": match.str("Mechanical keyboard"),
        "available": match.int(available),
        "reserved": match.int(0),
    }


def _through_gateway(pact: Any, path: str) -> Any:
    with mock_server(pact) as server, gateway_before(instance_of(PROVIDER, server), FixedKeyVerifier()) as gw:
        return fetch("GET", f"{gw}/api{path}", headers=bearer(SCOPES))


def list_items(folder: Path) -> None:
    """The catalogue: a list of items, each with its sku and the units available."""
    pact = new_pact(CONSUMER, PROVIDER)
    (
        pact.upon_receiving("a request for the catalogue")
        .given("stock of a sku", sku="KB-001", available=100)
        .with_request("GET", "/inventory/items")
        .will_respond_with(200)
        .with_body(match.each_like(_item()), content_type="application/json")
    )
    answer = _through_gateway(pact, "/inventory/items")
    assert answer.status == 200, answer
    assert {"sku", "available"} <= set(answer.body[0])
    assert isinstance(answer.body[0]["available"], int)
    write(pact, folder)


def get_item(folder: Path) -> None:
    """One item's stock, as a buyer checks it after ordering."""
    pact = new_pact(CONSUMER, PROVIDER)
    (
        pact.upon_receiving("a request for one item's stock")
        .given("stock of a sku", sku="KB-001", available=100)
        .with_request("GET", "/inventory/items/KB-001")
        .will_respond_with(200)
        .with_body({**_item(), "sku": "KB-001"}, content_type="application/json")
    )
    answer = _through_gateway(pact, "/inventory/items/KB-001")
    assert answer.status == 200, answer
    assert answer.body["sku"] == "KB-001", answer
    write(pact, folder)


def unknown_item(folder: Path) -> None:
    """An unknown sku: 404 with the code ``unknown_sku``."""
    pact = new_pact(CONSUMER, PROVIDER)
    (
        pact.upon_receiving("a request for an unknown sku")
        .given("no such sku", sku="NOPE-404")
        .with_request("GET", "/inventory/items/NOPE-404")
        .will_respond_with(404)
        .with_body(error_body(404, "unknown_sku"), content_type="application/json")
    )
    answer = _through_gateway(pact, "/inventory/items/NOPE-404")
    assert answer.status == 404, answer
    assert answer.body["code"] == "unknown_sku", answer
    write(pact, folder)


TESTS = (list_items, get_item, unknown_item)
