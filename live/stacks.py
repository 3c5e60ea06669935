"""The stack a command finds in a state folder, with the hooks its state records.

A later command (``live scale``, ``live down``, ``chaos run``, a Chaos Toolkit action) works on a
stack another process started. What was started with it beside the services -- a Prometheus
(``--prometheus``), Toxiproxy and its proxies (``--chaos``) -- is recorded in ``state.json``;
:func:`existing_stack` gives those hooks back, so scaling keeps scrape targets and proxies in step
and ``down`` stops them too.
"""

from __future__ import annotations

from pathlib import Path

from chaos.hook import chaos_hooks
from live.monitoring import monitoring_hooks
from live.supervisor import Stack

__all__ = ["existing_stack"]


def existing_stack(state_dir: Path) -> Stack:
    """The stack in ``state_dir`` with the hooks its state records (Prometheus, chaos proxies)."""
    stack = Stack(state_dir)
    stack.hooks += monitoring_hooks(stack.state) + chaos_hooks(stack.state)
    return stack
