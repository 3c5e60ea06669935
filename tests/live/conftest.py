"""Fixtures that start real parts of the live stack on loopback and always stop them."""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def running_stack(
    state_dir: Path, *, mtls: bool = False, hooks: Sequence[StackHook] = (), **replicas: int
) -> Iterator[Stack]:
    """:func:`start_stack` for a ``with`` block: the stack is down when the block ends, whatever
    happens in it (a stack that fails to come up stops what it started itself)."""
    stack = start_stack(state_dir, mtls=mtls, hooks=hooks, **replicas)
    try:
        yield stack
    finally:
        stack.down()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One running stack shared by a test module (stopped at its end, also after a failure)."""
    with running_stack(tmp_path_factory.mktemp("stack")) as started:
        yield started
