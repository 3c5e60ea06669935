"""The mesh access policy: which identity may call which service, decided by the callee.

The policy (a small YAML file, ``live/mesh/policy.yaml`` by default) lists for each caller the
services it may call, and separately the probe paths (``/health``, ``/ready``, ``/metrics``) that a
few identities (the supervisor, the registry's health checks, Prometheus) may reach on every service::

    calls:
      gateway: [registry, users, inventory, orders]
      orders: [registry, inventory]
    probes:
      paths: [/health, /ready, /metrics]
      callers: [supervisor, registry, prometheus]

It is deny by default: a caller not listed, a callee not in its list, or a certificate without a
servicelab identity is refused. :meth:`MeshPolicy.refusal` says why, or None to let the call pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

__all__ = ["DEFAULT_POLICY", "MeshPolicy", "MeshPolicyError", "load_policy", "policy_file"]

DEFAULT_POLICY = Path(__file__).with_name("policy.yaml")

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,62}$")]
ProbePath = Annotated[str, StringConstraints(pattern=r"^/\S*$")]


class MeshPolicyError(ValueError):
    """A policy file that cannot be used; the message has one ``• field: message`` line per problem."""


class _Probes(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    paths: frozenset[ProbePath] = frozenset({"/health", "/ready", "/metrics"})
    callers: frozenset[Name] = frozenset()


class MeshPolicy(BaseModel):
    """Who may call whom (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    calls: dict[Name, frozenset[Name]] = Field(default_factory=dict)
    probes: _Probes = _Probes()

    def refusal(self, caller: str | None, callee: str, path: str) -> str | None:
        """Why ``caller`` may not call ``path`` on ``callee`` -- or None when the policy allows it."""
        if caller is None:
            return "the client certificate carries no servicelab identity"
        if path in self.probes.paths and caller in self.probes.callers:
            return None
        if callee in self.calls.get(caller, frozenset()):
            return None
        return f"the mesh policy does not allow {caller} to call {callee}"

    @property
    def identities(self) -> frozenset[str]:
        """Every identity the policy names, as caller or callee."""
        named = set(self.calls) | self.probes.callers
        for callees in self.calls.values():
            named |= callees
        return frozenset(named)


def load_policy(path: Path = DEFAULT_POLICY) -> MeshPolicy:
    """The policy in ``path``; MeshPolicyError says what is wrong with it."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise MeshPolicyError(f"{path}: cannot read the mesh policy ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise MeshPolicyError(f"{path}: not YAML ({error})") from None
    try:
        return MeshPolicy.model_validate(data or {})
    except ValidationError as error:
        problems = [
            f"• {'.'.join(str(part) for part in problem['loc']) or '(top)'}: {problem['msg']}"
            for problem in error.errors()
        ]
        raise MeshPolicyError("\n".join([f"{path}: problems in the mesh policy", *problems])) from None


def policy_file(state_dir: Path) -> Path:
    """Where ``live up --mtls`` puts the stack's policy, for every callee to read."""
    return state_dir / "mesh-policy.yaml"
