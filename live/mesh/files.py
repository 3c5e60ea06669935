"""Where a stack's mesh certificates live in its state folder (no cryptography imported: clients need
only the paths, and every process is a client)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["CA_FILE", "MESH_CLIENTS", "OPERATOR", "PROMETHEUS", "SUPERVISOR", "MeshFiles", "mesh_files"]

CA_FILE = "mesh-ca.crt"

SUPERVISOR = "supervisor"
"""The identity of the supervisor's readiness probes."""
PROMETHEUS = "prometheus"
"""The identity Prometheus scrapes with."""
OPERATOR = "operator"
"""The identity of ``servicelab live config`` (the default policy lets it call config)."""
MESH_CLIENTS = (SUPERVISOR, PROMETHEUS, OPERATOR)
"""Identities that are no service of the stack and get a certificate whatever the policy says."""


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
