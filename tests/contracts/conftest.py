"""Contract tests run offline, and the provider tests get their pacts from the consumer tests.

``PACT_DO_NOT_TRACK=true`` is set here, when pytest loads this file, before any test starts a mock
server or a verification: no usage statistics leave the machine. Every mock server, provider and
state callback listens on 127.0.0.1.

Ordering under pytest-xdist: a provider test needs pacts, which the consumer tests make. Instead of
depending on the consumer tests having run first (on another worker, in any order), the ``pacts``
fixture runs every consumer test itself, once per worker session, into that worker's own folder
(:func:`contracts.consumers.generate`, about two seconds). The provider tests therefore always verify
the pacts of the code under test, and no two workers write the same file.
"""

from __future__ import annotations

import pytest

from contracts.consumers import generate
from contracts.offline import go_offline
from contracts.pactfiles import PactFile

go_offline()


@pytest.fixture(scope="session")
def pacts(tmp_path_factory: pytest.TempPathFactory) -> list[PactFile]:
    """A fresh set of pacts from every consumer test (this worker's own copy)."""
    return generate(tmp_path_factory.mktemp("pacts"))
