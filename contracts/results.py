"""Verification results kept locally: which provider version honoured which consumer's pact, when.

A Pact Broker records, for every verification, the provider version, the pact (consumer and consumer
version) and the outcome; ``can-i-deploy`` then answers from those records. Without a broker the
same records are appended to ``verifications.jsonl`` in the pacts folder, one JSON object per line
and per pact verified, never rewritten (a history, like the broker's):

``provider``, ``provider_version``, ``consumer``, ``consumer_version``, ``pact_digest`` (the
contract's content, :class:`contracts.pactfiles.PactFile`), ``success`` (bool), ``failures`` (the
mismatch lines of that pact), ``verified_at`` (ISO 8601, UTC).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from contracts.providers.verification import Verification

__all__ = ["RESULTS_FILE", "VerificationRecord", "load_records", "record_verification"]

RESULTS_FILE = "verifications.jsonl"


@dataclass(frozen=True)
class VerificationRecord:
    """The outcome of verifying one pact against one provider version (fields: module docstring)."""

    provider: str
    provider_version: str
    consumer: str
    consumer_version: str
    pact_digest: str
    success: bool
    failures: tuple[str, ...]
    verified_at: str


def record_verification(verification: Verification, folder: Path) -> list[VerificationRecord]:
    """Append one record per pact of ``verification`` to ``folder``'s results; returns them.

    A mismatch belongs to the pact whose consumer the verifier names (``... between <consumer> and
    <provider> ...``); a failed provider state belongs to every pact, since states are shared, and so
    does a failure that names no interaction.
    """
    now = datetime.now(UTC).isoformat(timespec="seconds")
    records = []
    for pact in verification.pacts:
        between = f"between {pact.consumer} and {pact.provider}"
        failures = tuple(
            str(f)
            for f in verification.failures
            if between in f.interaction or f.interaction == "provider state"
        )
        records.append(
            VerificationRecord(
                provider=verification.provider,
                provider_version=verification.provider_version,
                consumer=pact.consumer,
                consumer_version=pact.consumer_version,
                pact_digest=pact.digest,
                success=verification.ok or (bool(verification.failures) and not failures),
                failures=failures,
                verified_at=now,
            )
        )
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / RESULTS_FILE).open("a", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(asdict(record)) + "\n")
    return records


def load_records(folder: Path) -> list[VerificationRecord]:
    """Every record in ``folder``'s results, oldest first (none if there is no results file).

    ValueError naming the file and line for a line that is not a record.
    """
    path = folder / RESULTS_FILE
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            data["failures"] = tuple(data["failures"])
            records.append(VerificationRecord(**data))
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError(f"{path}:{number}: not a verification record ({error})") from None
    return records
