"""The can-i-deploy matrix from pact files and locally kept verification records."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.matrix import can_i_deploy, matrix
from contracts.pactfiles import PactFile
from contracts.providers.verification import Failure, Verification
from contracts.results import RESULTS_FILE, VerificationRecord, load_records, record_verification


def _pact(
    consumer: str = "gateway", provider: str = "orders", version: str = "c1", digest: str = "d1"
) -> PactFile:
    return PactFile(Path(f"{consumer}-{provider}.json"), consumer, provider, version, digest, ("x",))


def _record(
    provider_version: str, success: bool, consumer_version: str = "c1", digest: str = "d1"
) -> VerificationRecord:
    return VerificationRecord(
        "orders", provider_version, "gateway", consumer_version, digest, success, (), "t"
    )


def test_a_row_per_provider_version_that_verified_the_contract_plus_the_current_one() -> None:
    records = [
        _record("p1", True),
        _record("p2", False),
        _record("p2", True),
        _record("p3", True, digest="old"),
    ]
    rows = matrix([_pact()], records, {"orders": "p4"})
    assert [(r.provider_version, r.verified) for r in rows] == [("p1", True), ("p2", True), ("p4", None)]


def test_can_i_deploy_needs_the_deployed_version_to_have_verified_the_current_pact() -> None:
    pacts = [_pact()]
    records = [_record("p1", True), _record("p2", False)]
    rows = matrix(pacts, records, {"orders": "p3"})
    assert can_i_deploy(rows, pacts, {"orders": "p1"}).ok
    failed = can_i_deploy(rows, pacts, {"orders": "p2"})
    assert not failed.ok
    assert failed.reasons == ("orders p2 failed verification of the pact of gateway c1",)
    unverified = can_i_deploy(rows, pacts, {"orders": "p3"})
    assert unverified.reasons == ("orders p3 has not verified the pact of gateway c1",)


def test_a_new_consumer_version_is_not_covered_by_an_old_verification() -> None:
    pacts = [_pact(version="c2", digest="d2")]
    rows = matrix(pacts, [_record("p1", True)], {"orders": "p1"})
    assert [(r.consumer_version, r.verified) for r in rows] == [("c2", None)]
    assert not can_i_deploy(rows, pacts, {"orders": "p1"}).ok


def test_records_attribute_mismatches_to_the_pact_they_belong_to(tmp_path: Path) -> None:
    pacts = (_pact("gateway", "inventory"), _pact("orders", "inventory", version="c9"))
    failure = Failure("Verifying a pact between orders and inventory - a release", "$.status", "expected 200")
    verification = Verification("inventory", "p1", pacts, False, "report", (failure,))
    record_verification(verification, tmp_path)
    record_verification(Verification("inventory", "p2", pacts, True, "report"), tmp_path)
    outcomes = [(r.consumer, r.provider_version, r.success) for r in load_records(tmp_path)]
    assert outcomes == [
        ("gateway", "p1", True),
        ("orders", "p1", False),
        ("gateway", "p2", True),
        ("orders", "p2", True),
    ]
    assert load_records(tmp_path)[1].failures == (str(failure),)


def test_a_broken_results_file_is_named_with_its_line(tmp_path: Path) -> None:
    (tmp_path / RESULTS_FILE).write_text('{"provider": "orders"}\n')
    with pytest.raises(ValueError, match=rf"{RESULTS_FILE}:1: not a verification record"):
        load_records(tmp_path)
