"""What ``live up`` prepares in the state folder before any process starts (besides the registry token)."""

from __future__ import annotations

from live.auth.keys import ensure_signing_key
from live.supervisor.stack import Prepare

__all__ = ["PREPARE"]

PREPARE: tuple[Prepare, ...] = (ensure_signing_key,)
"""The users service's signing key, fresh for every stack (never committed, never reused)."""
