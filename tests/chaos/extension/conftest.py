"""One live stack with proxies on its edges (``live up --chaos``), shared by the extension's tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chaos.hook import ChaosHook
from live.supervisor import Stack
from tests.live.conftest import running_stack


@pytest.fixture(scope="package")
def chaos_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("chaos-extension"), hooks=[ChaosHook()]) as started:
        yield started


@pytest.fixture
def conf(chaos_stack: Stack) -> dict[str, Any]:
    """The Chaos Toolkit configuration an experiment would pass: where the stack lives."""
    return {"state_dir": str(chaos_stack.state_dir)}
