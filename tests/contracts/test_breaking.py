"""Provider verification catches breaking changes: each is applied to a copy of a provider, whose
verification must fail with a mismatch naming what broke; a compatible change must still pass.

Inventory is the provider with the most consumers (the gateway and orders); orders is also the
producer of the events inventory consumes, so a change to its outbox's event shape is a breaking
change of a message contract. Each copy differs from ``live/<service>`` by exactly one edit
(:func:`contracts.copies.changed_copy`); the original is untouched.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.copies import Edit, changed_copy
from contracts.pactfiles import PactFile
from contracts.providers.inventory import serve_inventory
from contracts.providers.orders import serve_orders
from contracts.providers.verification import ContractBrokenError, Verification, verify

pytestmark = pytest.mark.live


def _verify_copy(edit: Edit, pacts: list[PactFile], folder: Path, service: str = "inventory") -> Verification:
    copy = changed_copy(service, [edit], folder / "code")
    if service == "orders":
        started = serve_orders(folder / "state", package=copy)
    else:
        started = serve_inventory(folder / "state", create_app=copy.app.create_app)
    with started as serving:
        return verify(service, serving, pacts, provider_version="changed-copy")


BREAKING = {
    "renamed field": (
        Edit("store.py", '"available": self.available, "reserved"', '"in_stock": self.available, "reserved"'),
        "available",
    ),
    "changed status code": (
        Edit("app.py", "status=201 if done.created else 200", "status=200"),
        "expected 201 but was 200",
    ),
    "removed endpoint": (
        Edit("app.py", '    app.router.add_get("/inventory/items/{sku}", get_item)\n', ""),
        "expected 200 but was 404",
    ),
}

ORDERS_BREAKING = {
    "renamed event field": (
        Edit("outbox.py", '"event_id": self.event_id,', '"id": self.event_id,'),
        "event_id",
    ),
    "changed status code": (
        Edit("app.py", "status_code=201, headers=headers", "status_code=200, headers=headers"),
        "expected 201 but was 200",
    ),
}


@pytest.mark.parametrize("change", list(BREAKING))
def test_a_breaking_change_fails_verification_naming_it(
    change: str, pacts: list[PactFile], tmp_path: Path
) -> None:
    edit, named = BREAKING[change]
    verification = _verify_copy(edit, pacts, tmp_path)
    assert not verification.ok
    assert any(named in str(failure) for failure in verification.failures), verification.summary()
    with pytest.raises(ContractBrokenError) as raised:  # what pytest shows for a failed verification
        verification.check()
    assert named in str(raised.value)
    assert "verifier report:" in str(raised.value)


def test_the_renamed_field_is_named_in_every_interaction_that_reads_it(
    pacts: list[PactFile], tmp_path: Path
) -> None:
    edit, _ = BREAKING["renamed field"]
    verification = _verify_copy(edit, pacts, tmp_path)
    broken = {f.interaction.rsplit(" - ", 1)[-1] for f in verification.failures if "available" in f.mismatch}
    assert broken == {"a request for the catalogue", "a request for one item's stock"}


def test_an_added_optional_field_is_compatible(pacts: list[PactFile], tmp_path: Path) -> None:
    edit = Edit(
        "store.py", '"available": self.available,', '"available": self.available, "warehouse": "main",'
    )
    verification = _verify_copy(edit, pacts, tmp_path)
    verification.check()


@pytest.mark.parametrize("change", list(ORDERS_BREAKING))
def test_a_breaking_change_to_orders_fails_verification_naming_it(
    change: str, pacts: list[PactFile], tmp_path: Path
) -> None:
    edit, named = ORDERS_BREAKING[change]
    verification = _verify_copy(edit, pacts, tmp_path, service="orders")
    assert not verification.ok
    assert any(named in str(failure) for failure in verification.failures), verification.summary()


def test_a_renamed_event_field_breaks_the_message_contract_only(
    pacts: list[PactFile], tmp_path: Path
) -> None:
    edit, _ = ORDERS_BREAKING["renamed event field"]
    verification = _verify_copy(edit, pacts, tmp_path, service="orders")
    broken = {f.interaction.rsplit(" - ", 1)[-1] for f in verification.failures}
    assert broken == {"an OrderPlaced event", "an OrderCancelled event"}
