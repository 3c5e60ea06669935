"""Replicas on nodes: where each one runs, pending replicas, and nodes that fail.

With the scenario's ``nodes``, :meth:`Engine.replica` asks :meth:`Placement.place` for a node
(:class:`patterns.scheduling.NodePool` scores them: ``spread`` or ``pack``) before a replica
exists; a replica that fits nowhere is not created (its scaler keeps it pending). When a replica
stops, its cores are released and every scaler with pending replicas retries (:meth:`freed`).

A ``node_failure`` (run by :mod:`simulator.engine.faults`) crashes every live replica on the node at
once through :meth:`Station.crash` (calls in flight fail, as for a ``crash`` fault) and takes the
node out of scheduling (:meth:`NodePool.fail`); when it returns, the replicas still placed on it
restart (those a rollout stopped meanwhile do not) and pending replicas may use it again. Replicas
are not rescheduled elsewhere while their node is down.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from patterns.scheduling import NodePool
from simulator.deployments import Nodes

if TYPE_CHECKING:
    from simulator.engine.scaling import Scaler

__all__ = ["Placement"]


class Placement:
    """Which node each replica (``(service, index)``) runs on, over one replication."""

    def __init__(self, nodes: Nodes) -> None:
        self.pool = NodePool(nodes.count, nodes.cpu, nodes.placement)
        self.node_of: dict[tuple[str, int], tuple[int, float]] = {}
        self.on_node: list[dict[tuple[str, int], None]] = [{} for _ in range(nodes.count)]
        self.scalers: list[Scaler] = []  # retried when capacity frees

    def place(self, service: str, index: int, cpu: float) -> bool:
        node = self.pool.place(cpu)
        if node is None:
            return False
        self.node_of[service, index] = (node, cpu)
        self.on_node[node][service, index] = None
        return True

    def release(self, service: str, index: int) -> None:
        node, cpu = self.node_of.pop((service, index))
        del self.on_node[node][service, index]
        self.pool.release(node, cpu)
        self.freed()

    def freed(self) -> None:
        for scaler in self.scalers:
            if scaler.pending:
                scaler.retry()

    def replicas(self, node: int) -> list[tuple[str, int]]:
        """The replicas placed on ``node`` now, in the order they were placed."""
        return list(self.on_node[node])
