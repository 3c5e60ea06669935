"""A service's version: a digest of its code, so that a version changes exactly when its code does.

A Pact Broker knows each application version a consumer published a pact from and each version a
provider was verified at (usually git commits). In this lab all services live in one repository, so
the commit would name a new version of every service at once; instead a service's version is the
SHA-256 of its package's source files (``live/<service>/``: paths and contents, in path order),
shortened to 12 hex digits. Editing orders makes a new orders version and leaves inventory's alone,
which is what the can-i-deploy matrix (:mod:`contracts.matrix`) needs to tell versions apart.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["LIVE", "SOURCE_SUFFIXES", "version_of", "version_of_folder"]

LIVE = Path(__file__).resolve().parent.parent / "live"
"""Where the services' packages are."""

SOURCE_SUFFIXES = frozenset({".py", ".yaml", ".yml"})


def version_of_folder(folder: Path) -> str:
    """The digest of the source files under ``folder`` (12 hex digits); ValueError if it has none."""
    digest = hashlib.sha256()
    files = sorted(
        p for p in folder.rglob("*") if p.suffix in SOURCE_SUFFIXES and "__pycache__" not in p.parts
    )
    if not files:
        raise ValueError(f"no source files under {folder}")
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def version_of(service: str) -> str:
    """The version of ``service``'s code in this checkout (``live/<service>/``)."""
    return version_of_folder(LIVE / service)
