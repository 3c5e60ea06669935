"""Finding the live stack an experiment runs against, from the Chaos Toolkit configuration.

The state folder is the configuration's ``state_dir``, else ``SERVICELAB_STATE_DIR``, else
``.servicelab/live`` -- the same default as ``servicelab live``. :func:`toxiproxy_url` is meant for an
experiment's dynamic configuration, so chaostoolkit-toxiproxy's own actions reach the stack's
Toxiproxy::

    configuration:
      toxiproxy_url:
        type: probe
        name: the stack's Toxiproxy
        provider: {type: python, module: chaos.extension.stack, func: toxiproxy_url}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from chaos.client import ToxiproxyClient
from chaos.hook import chaos_of
from live import stacks
from live.supervisor import Stack, StackState

__all__ = ["DEFAULT_STATE_DIR", "ExperimentError", "existing_stack", "state_dir", "state_of", "toxiproxy"]

DEFAULT_STATE_DIR = ".servicelab/live"
Configuration = dict[str, Any] | None


class ExperimentError(RuntimeError):
    """The stack an activity needs is not there, or an activity's arguments make no sense."""


def state_dir(configuration: Configuration = None) -> Path:
    """The stack's state folder (module docstring)."""
    given = (configuration or {}).get("state_dir") or os.environ.get("SERVICELAB_STATE_DIR")
    return Path(given or DEFAULT_STATE_DIR).resolve()


def state_of(configuration: Configuration = None) -> StackState:
    """The running stack's state; ExperimentError when no stack runs there."""
    folder = state_dir(configuration)
    state = StackState.load(folder)
    if state is None or not state.instances:
        raise ExperimentError(f"no stack runs in {folder}: `servicelab live up --chaos --state-dir {folder}`")
    return state


def existing_stack(configuration: Configuration = None) -> Stack:
    """The running stack, with the hooks its state calls for (chaos proxies, Prometheus)."""
    state_of(configuration)
    return stacks.existing_stack(state_dir(configuration))


def toxiproxy(configuration: Configuration = None) -> ToxiproxyClient:
    """The stack's Toxiproxy; ExperimentError unless the stack runs with ``--chaos``."""
    state = state_of(configuration)
    record = chaos_of(state)
    if record is None:
        raise ExperimentError(
            f"the stack in {state.state_dir} has no proxies on its edges: start it with `live up --chaos`"
        )
    return ToxiproxyClient(record.url)


def toxiproxy_url(configuration: Configuration = None) -> str:
    """The API URL of the stack's Toxiproxy (for chaostoolkit-toxiproxy's ``toxiproxy_url``)."""
    return toxiproxy(configuration).url
