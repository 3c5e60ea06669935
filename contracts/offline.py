"""Pact without network traffic: ``PACT_DO_NOT_TRACK=true`` before the Pact core loads.

Pact's core library sends anonymous usage statistics to pact.io unless ``PACT_DO_NOT_TRACK`` is
``true`` (pitfall: it must be set *before* the first ``Pact`` or ``Verifier`` exists; once the core
is initialised it has already decided). servicelab's contracts never need the network: mock servers,
providers and state callbacks all listen on 127.0.0.1, and pact files are local unless a Pact Broker
URL is given explicitly.
"""

from __future__ import annotations

import os

__all__ = ["go_offline"]


def go_offline() -> None:
    """Forbid Pact's usage statistics for this process and its children (idempotent)."""
    os.environ["PACT_DO_NOT_TRACK"] = "true"
