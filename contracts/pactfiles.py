"""Pact files on disk: which consumer, which provider, which consumer version, which content.

A pact file is JSON (Pact specification V4) named ``<consumer>-<provider>.json``; the consumer tests
record the consumer's version under ``metadata.servicelab.consumerVersion``
(:func:`contracts.consumers.mock.new_pact`). ``digest`` identifies the contract's content: two runs that
generated the same interactions have the same digest, whatever the file's formatting.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PactFile", "PactFileError", "pact_files", "read_pact"]

UNKNOWN_VERSION = "unknown"


class PactFileError(ValueError):
    """A file in the pacts folder is not a pact file servicelab can read; the message names it."""


@dataclass(frozen=True)
class PactFile:
    """One pact: ``consumer`` at ``consumer_version`` expects ``interactions`` of ``provider``."""

    path: Path
    consumer: str
    provider: str
    consumer_version: str
    digest: str
    interactions: tuple[str, ...]

    @property
    def pair(self) -> tuple[str, str]:
        return self.consumer, self.provider


def read_pact(path: Path) -> PactFile:
    """The pact in ``path``; :class:`PactFileError` when it is not JSON or lacks consumer or provider."""
    try:
        document: Any = json.loads(path.read_text(encoding="utf-8"))
        consumer, provider = document["consumer"]["name"], document["provider"]["name"]
        interactions = document.get("interactions") or document.get("messages") or []
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise PactFileError(f"{path}: not a pact file ({type(error).__name__}: {error})") from None
    version = ((document.get("metadata") or {}).get("servicelab") or {}).get("consumerVersion")
    canonical = json.dumps(interactions, sort_keys=True, separators=(",", ":"))
    return PactFile(
        path=path,
        consumer=str(consumer),
        provider=str(provider),
        consumer_version=str(version or UNKNOWN_VERSION),
        digest=hashlib.sha256(canonical.encode()).hexdigest()[:12],
        interactions=tuple(str(i.get("description", "")) for i in interactions),
    )


def pact_files(folder: Path, provider: str | None = None) -> list[PactFile]:
    """The pacts in ``folder`` (of ``provider`` only, if given), by file name."""
    if not folder.is_dir():
        return []
    found = [read_pact(path) for path in sorted(folder.glob("*.json"))]
    return [p for p in found if provider is None or p.provider == provider]
