"""Pact without network traffic: ``PACT_DO_NOT_TRACK=true`` in the environment.

Pact's core library (Rust) sends anonymous usage events to the Pact maintainers (Google Analytics)
when a mock server starts or a verification runs, unless the environment variable
``PACT_DO_NOT_TRACK`` is ``true`` at that moment. Pitfall: the variable must be in the environment of
the process that runs Pact *before* the first mock server or verification -- in a test suite's
conftest, in CI's environment, at a command's start -- not in a test body that runs after another
test already started a mock server. servicelab sets it in ``tests/contracts/conftest.py``, in
``servicelab contracts`` and whenever :func:`contracts.consumers.mock.new_pact` or
:func:`contracts.providers.verification.verify` runs. Nothing else of the contracts needs the
network: mock servers, providers and state callbacks all listen on 127.0.0.1, and pact files are
local unless a Pact Broker URL is given explicitly.
"""

from __future__ import annotations

import os

__all__ = ["go_offline"]


def go_offline() -> None:
    """Forbid Pact's usage statistics for this process and its children (idempotent)."""
    os.environ["PACT_DO_NOT_TRACK"] = "true"
