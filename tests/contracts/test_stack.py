"""``servicelab contracts verify --url``: the pacts verified against the real processes of a live stack.

The stack is the one ``servicelab live up`` starts (registry, users, inventory, orders, gateway, broker,
config, each a process of its own); each provider is verified where it runs, its states seeding the
SQLite files in the stack's state folder. Then every pact is verified by its provider's version in
this checkout, and the can-i-deploy gate opens.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.providers import PROVIDERS
from contracts.results import load_records
from live.supervisor import Stack
from tests.contracts.run import servicelab
from tests.live.conftest import running_stack

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("stack")]


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("stack")) as started:
        yield started


def test_every_provider_of_a_running_stack_honours_the_pacts(live_stack: Stack, tmp_path: Path) -> None:
    for provider in PROVIDERS:
        url = live_stack.state.url(provider)
        assert url is not None
        done = servicelab(
            "contracts", "verify", "--provider", provider, "--url", url,
            "--state-dir", str(live_stack.state_dir), "--pacts", str(tmp_path),
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    assert {r.provider for r in load_records(tmp_path) if r.success} == set(PROVIDERS)
    gate = servicelab("contracts", "matrix", "--pacts", str(tmp_path))
    assert gate.returncode == 0, gate.stdout
    assert "can-i-deploy: yes" in gate.stdout
