"""Placing replicas on nodes by their CPU request, as a cluster scheduler does.

A cluster has ``count`` nodes of ``cpu`` cores each. A replica requests some cores; the scheduler
puts it on a node that is up and has that much free, or nowhere (the replica stays *pending* until
capacity frees, as an unschedulable Kubernetes pod does). Two scoring rules, Kubernetes'
``LeastAllocated`` and ``MostAllocated``:

- ``spread``: the node with the most free cores (replicas of a service land on different nodes, so
  one node's failure takes few of them);
- ``pack``: the node with the fewest free cores that still fits (bin packing: fewer nodes busy,
  but one failure may take many replicas of a service at once).

Ties go to the lowest node index, so placement is deterministic. A failed node keeps what was
placed on it (the replicas come back with it) but accepts nothing new until restored. The
invariant the tests check: no node ever holds more than its capacity.
"""

from __future__ import annotations

import math
from typing import Literal

__all__ = ["NodePool", "Placement"]

Placement = Literal["spread", "pack"]

_EPSILON = 1e-9  # cores are floats: 0.1 + 0.2 must fit in 0.3


class NodePool:
    """``count`` nodes of ``cpu`` cores; :meth:`place` and :meth:`release` replicas' CPU requests."""

    __slots__ = ("capacity", "placement", "up", "used")

    def __init__(self, count: int, cpu: float, placement: Placement = "spread") -> None:
        if not (isinstance(count, int) and count >= 1):
            raise ValueError(f"a node pool needs count >= 1 nodes, got count={count!r}")
        if not (math.isfinite(cpu) and cpu > 0):
            raise ValueError(f"nodes need a finite cpu > 0, got cpu={cpu!r}")
        if placement not in ("spread", "pack"):
            raise ValueError(f"placement must be 'spread' or 'pack', got {placement!r}")
        self.capacity, self.placement = float(cpu), placement
        self.used = [0.0] * count
        self.up = [True] * count

    def free(self, node: int) -> float:
        return self.capacity - self.used[node]

    def place(self, cpu: float) -> int | None:
        """The node a replica requesting ``cpu`` cores goes on (now holding them), or ``None``."""
        if cpu < 0:
            raise ValueError(f"a CPU request must be >= 0, got {cpu!r}")
        fits = [n for n in range(len(self.used)) if self.up[n] and self.free(n) + _EPSILON >= cpu]
        if not fits:
            return None
        sign = -1.0 if self.placement == "spread" else 1.0  # spread: most free first; pack: least
        node = min(fits, key=lambda n: (sign * self.free(n), n))
        self.used[node] += cpu
        return node

    def release(self, node: int, cpu: float) -> None:
        """A replica of ``cpu`` cores left ``node``."""
        self.used[node] = max(0.0, self.used[node] - cpu)

    def fail(self, node: int) -> None:
        """``node`` is down: nothing new goes on it (what it holds stays, to come back with it)."""
        self.up[node] = False

    def restore(self, node: int) -> None:
        self.up[node] = True
