"""The can-i-deploy matrix: consumer versions x provider versions, verified or not.

Rows come from the pact files (the consumer versions whose contracts exist now) and the verification
records (:mod:`contracts.results`): for each pact, one row per provider version that verified that
very contract (same consumer version, same content digest) -- its latest outcome -- and one row for the
provider's current version if it has not verified it yet (``verified`` is None).

``can-i-deploy`` asks: may these versions go out together? Yes when, for every pact, the provider's
version to deploy has verified the consumer's current version of it successfully. A Pact Broker
answers the same question from the same two kinds of data (``pact-broker can-i-deploy``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from contracts.pactfiles import PactFile
from contracts.results import VerificationRecord

__all__ = ["Decision", "MatrixRow", "can_i_deploy", "matrix"]


@dataclass(frozen=True)
class MatrixRow:
    """``consumer`` at ``consumer_version`` x ``provider`` at ``provider_version``: ``verified`` True
    (passed), False (failed) or None (never verified); ``verified_at`` of the latest record."""

    consumer: str
    consumer_version: str
    provider: str
    provider_version: str
    verified: bool | None
    verified_at: str = ""


@dataclass(frozen=True)
class Decision:
    """Whether the versions may be deployed together, and why not (one reason per pact)."""

    ok: bool
    reasons: tuple[str, ...]


def matrix(
    pacts: Sequence[PactFile], records: Sequence[VerificationRecord], current: Mapping[str, str]
) -> list[MatrixRow]:
    """The rows for ``pacts``; ``current``: provider -> its version now (a row even if unverified)."""
    rows = []
    for pact in pacts:
        latest: dict[str, VerificationRecord] = {}
        for record in records:  # oldest first: later records of a provider version replace earlier ones
            same_contract = (
                record.consumer_version == pact.consumer_version and record.pact_digest == pact.digest
            )
            if (record.consumer, record.provider) == pact.pair and same_contract:
                latest[record.provider_version] = record
        for version, record in latest.items():
            rows.append(
                MatrixRow(
                    pact.consumer,
                    pact.consumer_version,
                    pact.provider,
                    version,
                    record.success,
                    record.verified_at,
                )
            )
        now = current.get(pact.provider)
        if now is not None and now not in latest:
            rows.append(MatrixRow(pact.consumer, pact.consumer_version, pact.provider, now, None))
    return rows


def can_i_deploy(
    rows: Sequence[MatrixRow], pacts: Sequence[PactFile], deploying: Mapping[str, str]
) -> Decision:
    """May providers at ``deploying`` (provider -> version) go out with the consumers of ``pacts``?"""
    reasons = []
    for pact in pacts:
        version = deploying.get(pact.provider)
        if version is None:
            continue
        outcome = next(
            (
                row.verified
                for row in rows
                if (row.consumer, row.provider) == pact.pair
                and row.consumer_version == pact.consumer_version
                and row.provider_version == version
            ),
            None,
        )
        if outcome is not True:
            state = "failed verification of" if outcome is False else "has not verified"
            reasons.append(
                f"{pact.provider} {version} {state} the pact of {pact.consumer} {pact.consumer_version}"
            )
    return Decision(not reasons, tuple(reasons))
