"""Where a stack's mesh certificates live in its state folder (no cryptography imported: clients need
only the paths, and every process is a client)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["CA_FILE", "MeshFiles", "mesh_files"]

CA_FILE = "mesh-ca.crt"


@dataclass(frozen=True)
class MeshFiles:
    """Where the trust anchor and one identity's certificate and key are."""

    ca: Path
    certificate: Path
    key: Path


def mesh_files(state_dir: Path, identity: str) -> MeshFiles:
    """The files of ``identity`` in a stack's state folder (they may not exist)."""
    secrets = state_dir / "secrets"
    return MeshFiles(secrets / CA_FILE, secrets / f"mesh-{identity}.crt", secrets / f"mesh-{identity}.key")
