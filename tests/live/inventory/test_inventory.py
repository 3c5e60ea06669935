"""The inventory service over real HTTP on loopback, on a real SQLite file in tmp_path."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from live.common.server import running
from live.common.settings import InstanceSettings
from live.inventory.app import create_app
from live.inventory.store import DEFAULT_CATALOGUE, Item
from tests.live.http import Answer, call

pytestmark = pytest.mark.live

CATALOGUE = (Item("A-1", "Apple", 5), Item("B-2", "Banana", 2))


def settings(state: Path) -> InstanceSettings:
    return InstanceSettings(service="inventory", instance="inventory-1", state_dir=state)


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    with running(create_app(settings(tmp_path), catalogue=CATALOGUE)) as base:
        yield base


def stock(url: str, sku: str) -> tuple[int, int]:
    item = call("GET", f"{url}/inventory/items/{sku}").body
    return item["available"], item["reserved"]


def reserve(url: str, request_id: str, *lines: tuple[str, int], order_id: str = "o-1") -> Answer:
    items = [{"sku": sku, "quantity": quantity} for sku, quantity in lines]
    body = {"request_id": request_id, "order_id": order_id, "items": items}
    return call("POST", f"{url}/inventory/reservations", json_body=body)


def test_an_empty_database_is_seeded_with_the_default_catalogue(tmp_path: Path) -> None:
    with running(create_app(settings(tmp_path))) as base:
        listed = call("GET", f"{base}/inventory/items")
    assert listed.status == 200
    assert {item["sku"]: item["available"] for item in listed.body} == {
        item.sku: item.available for item in DEFAULT_CATALOGUE
    }
    assert all(item["reserved"] == 0 for item in listed.body)


def test_a_database_with_items_keeps_them_whatever_catalogue_comes_next(tmp_path: Path) -> None:
    with running(create_app(settings(tmp_path), catalogue=CATALOGUE)) as base:
        assert reserve(base, "r-1", ("A-1", 2)).status == 201
    with running(create_app(settings(tmp_path), catalogue=(Item("Z-9", "Zebra", 1),))) as base:
        assert [item["sku"] for item in call("GET", f"{base}/inventory/items").body] == ["A-1", "B-2"]
        assert stock(base, "A-1") == (3, 2)


def test_one_item_and_an_unknown_sku(url: str) -> None:
    found = call("GET", f"{url}/inventory/items/B-2")
    assert (found.status, found.body) == (
        200,
        {"sku": "B-2", "name": "Banana", "available": 2, "reserved": 0},
    )
    missing = call("GET", f"{url}/inventory/items/NOPE")
    assert missing.status == 404
    assert missing.body["code"] == "unknown_sku"
    assert missing.body["sku"] == "NOPE"


def test_a_reservation_moves_stock_and_its_repeat_returns_it_without_reserving_again(url: str) -> None:
    first = reserve(url, "r-1", ("A-1", 3), ("B-2", 1))
    assert first.status == 201
    assert first.body["status"] == "reserved"
    assert first.body["items"] == [{"sku": "A-1", "quantity": 3}, {"sku": "B-2", "quantity": 1}]
    assert stock(url, "A-1") == (2, 3)
    again = reserve(url, "r-1", ("B-2", 1), ("A-1", 3))  # the same request, lines in another order
    assert again.status == 200
    assert again.body == first.body
    assert stock(url, "A-1") == (2, 3)
    assert stock(url, "B-2") == (1, 1)


def test_a_line_short_of_stock_rejects_the_whole_request(url: str) -> None:
    rejected = reserve(url, "r-1", ("A-1", 1), ("B-2", 3))
    assert rejected.status == 409
    assert rejected.body["code"] == "out_of_stock"
    assert (rejected.body["sku"], rejected.body["requested"], rejected.body["available"]) == ("B-2", 3, 2)
    assert "B-2" in rejected.body["error"]
    assert stock(url, "A-1") == (5, 0)
    unknown = reserve(url, "r-2", ("A-1", 1), ("NOPE", 1))
    assert unknown.status == 409
    assert (unknown.body["code"], unknown.body["sku"]) == ("unknown_sku", "NOPE")
    assert stock(url, "A-1") == (5, 0)
    # nothing was recorded under a rejected request id: once the request fits, it reserves
    assert reserve(url, "r-1", ("A-1", 1), ("B-2", 2)).status == 201


def test_a_request_id_reused_with_another_body_is_a_conflict(url: str) -> None:
    assert reserve(url, "r-1", ("A-1", 1)).status == 201
    for changed in (reserve(url, "r-1", ("A-1", 2)), reserve(url, "r-1", ("A-1", 1), order_id="o-2")):
        assert changed.status == 422
        assert changed.body["code"] == "request_id_conflict"
        assert changed.body["request_id"] == "r-1"
    assert stock(url, "A-1") == (4, 1)


def test_release_gives_the_stock_back_once(url: str) -> None:
    assert reserve(url, "r-1", ("A-1", 4)).status == 201
    released = call("POST", f"{url}/inventory/reservations/r-1/release")
    assert released.status == 200
    assert released.body["status"] == "released"
    assert released.body["released_at"]
    assert stock(url, "A-1") == (5, 0)
    again = call("POST", f"{url}/inventory/reservations/r-1/release")
    assert (again.status, again.body) == (200, released.body)
    assert stock(url, "A-1") == (5, 0)
    # a repeat of the reserve after the release replays the (released) reservation: no new hold
    replay = reserve(url, "r-1", ("A-1", 4))
    assert (replay.status, replay.body["status"]) == (200, "released")
    assert stock(url, "A-1") == (5, 0)
    unknown = call("POST", f"{url}/inventory/reservations/nope/release")
    assert unknown.status == 404
    assert unknown.body["code"] == "unknown_reservation"


def test_concurrent_repeats_on_two_replicas_reserve_exactly_once(tmp_path: Path) -> None:
    one, two = (create_app(settings(tmp_path), catalogue=CATALOGUE) for _ in range(2))
    with running(one) as first, running(two) as second, ThreadPoolExecutor(10) as pool:
        replies = list(pool.map(lambda i: reserve((first, second)[i % 2], "r-1", ("A-1", 2)), range(10)))
        assert Counter(reply.status for reply in replies) == {201: 1, 200: 9}
        assert len({reply.body["id"] for reply in replies}) == 1
        assert stock(first, "A-1") == (3, 2)


def test_concurrent_requests_on_two_replicas_never_oversell(tmp_path: Path) -> None:
    one, two = (create_app(settings(tmp_path), catalogue=CATALOGUE) for _ in range(2))
    with running(one) as first, running(two) as second, ThreadPoolExecutor(10) as pool:
        replies = list(pool.map(lambda i: reserve((first, second)[i % 2], f"r-{i}", ("A-1", 1)), range(12)))
        assert Counter(reply.status for reply in replies) == {201: 5, 409: 7}
        assert stock(second, "A-1") == (0, 5)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([1, 2], "body"),
        ({"order_id": "o", "items": [{"sku": "A-1", "quantity": 1}]}, "request_id"),
        ({"request_id": " ", "order_id": "o", "items": [{"sku": "A-1", "quantity": 1}]}, "request_id"),
        ({"request_id": "r", "order_id": 7, "items": [{"sku": "A-1", "quantity": 1}]}, "order_id"),
        ({"request_id": "r", "order_id": "o", "items": []}, "items"),
        ({"request_id": "r", "order_id": "o", "items": "A-1"}, "items"),
        ({"request_id": "r", "order_id": "o", "items": ["A-1"]}, "items[0]"),
        ({"request_id": "r", "order_id": "o", "items": [{"quantity": 1}]}, "items[0].sku"),
        ({"request_id": "r", "order_id": "o", "items": [{"sku": "A-1", "quantity": 0}]}, "items[0].quantity"),
        (
            {"request_id": "r", "order_id": "o", "items": [{"sku": "A-1", "quantity": "2"}]},
            "items[0].quantity",
        ),
        (
            {"request_id": "r", "order_id": "o", "items": [{"sku": "A-1", "quantity": True}]},
            "items[0].quantity",
        ),
        (
            {"request_id": "r", "order_id": "o", "items": [{"sku": "A-1", "quantity": 1.5}]},
            "items[0].quantity",
        ),
        (
            {"request_id": "r", "order_id": "o", "items": [{"sku": "A-1", "quantity": 1}] * 2},
            "items[1].sku",
        ),
    ],
)
def test_a_bad_field_is_a_422_naming_it(url: str, body: object, field: str) -> None:
    reply = call("POST", f"{url}/inventory/reservations", json_body=body)
    assert reply.status == 422
    assert (reply.body["code"], reply.body["field"]) == ("invalid_request", field)
    assert field in reply.body["error"]
    assert stock(url, "A-1") == (5, 0)


@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe"])
def test_a_body_that_is_not_json_is_a_400(url: str, raw: bytes) -> None:
    reply = call("POST", f"{url}/inventory/reservations", raw=raw)
    assert reply.status == 400
    assert reply.body["code"] == "invalid_json"


def test_unknown_routes_wrong_methods_and_huge_bodies_answer_json(url: str) -> None:
    assert call("GET", f"{url}/inventory/nothing").status == 404
    wrong = call("DELETE", f"{url}/inventory/items")
    assert wrong.status == 405
    assert wrong.body["code"] == "method_not_allowed"
    huge = call("POST", f"{url}/inventory/reservations", raw=b"[" + b"1," * 600_000 + b"1]")
    assert (huge.status, huge.body["code"]) == (413, "request_entity_too_large")


def test_the_openapi_document_describes_exactly_the_routes_served(url: str, tmp_path: Path) -> None:
    document = call("GET", f"{url}/openapi.json").body
    assert document["openapi"].startswith("3.")
    described = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    app = create_app(settings(tmp_path), catalogue=CATALOGUE)
    served = {
        (route.resource.canonical, route.method)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    assert described == served - {("/openapi.json", "GET")}
    schemas = document["components"]["schemas"]
    for item in document["paths"].values():
        for operation in item.values():
            for response in operation["responses"].values():
                schema = response["content"]["application/json"]["schema"]
                ref = schema.get("$ref") or schema["items"]["$ref"]
                assert ref.removeprefix("#/components/schemas/") in schemas
