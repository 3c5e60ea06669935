"""The ``Latency`` field type: a fixed delay or a distribution of delays.

It lives apart from :mod:`simulator.scenario` so that other schema modules (the network in the
scenario, added delays in :mod:`simulator.faults`) can share it without importing each other.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from simulator.distributions import Distribution
from simulator.fields import Duration

__all__ = ["Latency"]

Latency = Annotated[Duration | Distribution, Field(union_mode="left_to_right")]
"""A fixed delay (``"2ms"``) or a distribution of delays."""
