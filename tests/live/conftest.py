"""Fixtures that start real parts of the live stack on loopback and always stop them."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from live.supervisor import Stack, StackHook
from live.supervisor.prepare import PREPARE


def start_stack(
    state_dir: Path, *, mtls: bool = False, hooks: Sequence[StackHook] = (), **replicas: int
) -> Stack:
    """A whole stack in ``state_dir`` whose processes die with this test process, whatever happens
    (``mtls``: as a mesh with mutual TLS, as ``live up --mtls`` starts it; ``hooks``: e.g. chaos's)."""
    stack = Stack(state_dir, parent_pid=os.getpid(), prepare=PREPARE, mtls=mtls, hooks=hooks)
    stack.up(replicas)
    return stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One running stack shared by a test module (stopped at its end, also after a failure)."""
    started = None
    try:
        started = start_stack(tmp_path_factory.mktemp("stack"))
        yield started
    finally:
        if started is not None:
            started.down()
