"""Every consumer test runs its real consumer against Pact's mock server and writes its pact."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp
import pytest
from pact import match
from pact.error import MismatchesError

from contracts.consumers import MODULES, consumer_tests
from contracts.consumers.mock import instance_of, mock_server, new_pact
from contracts.discovery import discover_only
from contracts.pactfiles import read_pact
from contracts.versions import version_of
from live.orders.inventory import InventoryClient
from patterns.balancing import RoundRobin

TESTS = consumer_tests()

pytestmark = pytest.mark.live


@pytest.mark.parametrize("test", TESTS, ids=[t.id for t in TESTS])
def test_consumer_writes_its_pact(test, tmp_path: Path) -> None:
    test.run(tmp_path)
    pact = read_pact(tmp_path / f"{test.consumer}-{test.provider}.json")
    assert pact.pair == (test.consumer, test.provider)
    assert pact.consumer_version == version_of(test.consumer)
    assert pact.interactions


def test_every_edge_of_the_stack_has_consumer_tests() -> None:
    edges = {(t.consumer, t.provider) for t in TESTS}
    assert edges == {
        ("gateway", "users"),
        ("gateway", "orders"),
        ("gateway", "inventory"),
        ("orders", "inventory"),
        ("inventory", "orders"),  # messages: inventory consumes orders' events
    }
    assert len(MODULES) == 5


def test_mock_server_refuses_a_consumer_that_breaks_its_own_contract() -> None:
    """The consumer side catches drift too: the contract says reservations use ``reservation:`` ids,
    orders' real client sends ``order:`` ones, and the mock server's check names the field."""
    pact = new_pact("orders", "inventory")
    (
        pact.upon_receiving("a reservation with another id scheme")
        .with_request("POST", "/inventory/reservations")
        .with_body({"request_id": match.regex("reservation:1", regex=r"^reservation:\d+$")})
        .will_respond_with(201)
        .with_body({"id": "r-1"})
    )

    async def reserve(url_instance) -> None:
        async with aiohttp.ClientSession() as session:
            client = InventoryClient(session, discover_only(url_instance), RoundRobin(), 5.0)
            await client.reserve("order:1", "1", [{"sku": "KB-001", "quantity": 1}], {})

    with pytest.raises(MismatchesError) as raised, mock_server(pact) as server:
        asyncio.run(reserve(instance_of("inventory", server)))
    assert "request_id" in str(raised.value)


def test_a_new_pact_turns_pact_usage_statistics_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PACT_DO_NOT_TRACK", raising=False)
    new_pact("orders", "inventory")
    assert os.environ["PACT_DO_NOT_TRACK"] == "true"
