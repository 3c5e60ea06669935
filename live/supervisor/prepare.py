"""What ``live up`` prepares in the state folder before any process starts (besides the registry token)."""

from __future__ import annotations

from live.auth.keys import ensure_signing_key
from live.config.preparation import DEFAULT_ENVIRONMENT, ConfigPreparation
from live.supervisor.stack import Prepare

__all__ = ["PREPARE", "preparations"]


def preparations(environment: str = DEFAULT_ENVIRONMENT) -> tuple[Prepare, ...]:
    """The users service's signing key, fresh for every stack (never committed, never reused), and the
    config service's write token and environment (dev, test or prod)."""
    return (ensure_signing_key, ConfigPreparation(environment))


PREPARE: tuple[Prepare, ...] = preparations()
"""The preparations of a dev stack."""
