"""Every provider, started on loopback with its own database, honours every pact that names it."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.pactfiles import PactFile, read_pact
from contracts.providers import PROVIDERS, serve
from contracts.providers.verification import ContractBrokenError, verify
from contracts.versions import version_of

pytestmark = pytest.mark.live


@pytest.mark.parametrize("provider", PROVIDERS)
def test_provider_honours_every_pact(provider: str, pacts: list[PactFile], tmp_path: Path) -> None:
    with serve(provider, tmp_path) as serving:
        verification = verify(provider, serving, pacts, provider_version=version_of(provider))
    verification.check()
    verified = {p.pair for p in verification.pacts}
    assert verified == {p.pair for p in pacts if p.provider == provider}
    assert verified
    for pact in verification.pacts:
        for description in pact.interactions:
            assert description in verification.report


def test_orders_messages_come_from_its_outbox(pacts: list[PactFile], tmp_path: Path) -> None:
    (messages,) = [p for p in pacts if p.pair == ("inventory", "orders")]
    assert set(messages.interactions) == {"an OrderPlaced event", "an OrderCancelled event"}
    with serve("orders", tmp_path) as serving:
        verification = verify("orders", serving, [messages], provider_version="test")
    verification.check()
    assert "generates a message" in verification.report


def _edited(pact: PactFile, folder: Path, old: str, new: str) -> PactFile:
    text = pact.path.read_text(encoding="utf-8")
    assert old in text
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / pact.path.name
    path.write_text(text.replace(old, new), encoding="utf-8")
    return read_pact(path)


def test_a_state_the_provider_does_not_know_fails_naming_it(pacts: list[PactFile], tmp_path: Path) -> None:
    (pact,) = [p for p in pacts if p.pair == ("orders", "inventory")]
    renamed = _edited(pact, tmp_path / "pacts", '"name": "stock of a sku"', '"name": "a sku with stock"')
    with serve("inventory", tmp_path / "state") as serving:
        verification = verify("inventory", serving, [renamed], provider_version="test")
    assert not verification.ok
    with pytest.raises(ContractBrokenError) as raised:
        verification.check()
    assert "inventory has no provider state 'a sku with stock'" in str(raised.value)


def test_a_state_parameter_under_another_name_fails(pacts: list[PactFile], tmp_path: Path) -> None:
    """The state handler gets the consumer's parameter names as keyword arguments: ``stock`` is not
    ``available``, and the verification fails naming it instead of running on an unseeded database."""
    (pact,) = [p for p in pacts if p.pair == ("orders", "inventory")]
    renamed = _edited(pact, tmp_path / "pacts", '"available": 10', '"stock": 10')
    with serve("inventory", tmp_path / "state") as serving:
        verification = verify("inventory", serving, [renamed], provider_version="test")
    assert not verification.ok
    assert "unexpected keyword argument 'stock'" in verification.summary()
