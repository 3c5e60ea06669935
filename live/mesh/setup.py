"""What ``live up --mtls`` prepares in the state folder: the policy every callee reads, and certificates.

Certificates are issued for every service of the stack, every identity the policy names, and the
mesh's own clients: the supervisor (readiness probes) and Prometheus (scrapes).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from live.mesh.certs import issue_mesh
from live.mesh.files import MESH_CLIENTS
from live.mesh.policy import DEFAULT_POLICY, MeshPolicy, load_policy, policy_file

__all__ = ["prepare_mesh"]

"""Identities that call into the mesh without being services of it."""


def prepare_mesh(state_dir: Path, services: Iterable[str], policy: Path | None = None) -> MeshPolicy:
    """Check the policy (MeshPolicyError says what is wrong), copy it into the state folder, issue
    a fresh CA and the certificates; returns the policy."""
    source = policy or DEFAULT_POLICY
    loaded = load_policy(source)
    target = policy_file(state_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    issue_mesh(state_dir, {*services, *MESH_CLIENTS, *loaded.identities})
    return loaded
