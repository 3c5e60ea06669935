"""The discrete-event engine: a scenario played out on SimPy's event loop.

Design for speed: there is no generator process per request or per hop. Each call is a small
object that is itself a SimPy event, rescheduled for each stage of its life (network hop out, end
of its work, network hop back) with the next stage as its callback. The per-event cost is then one
heap push and one Python call, samples come from pre-drawn blocks, and records go to typed arrays.
Features a scenario does not use (latency, nested calls, several replicas, bounded queues) cost
nothing: the route is compiled into plan nodes specialised for what it needs.

The model of a call: the caller's request travels the edge's one-way latency, joins the chosen
replica's FIFO queue (or is rejected when that queue is full), holds one of the replica's
``concurrency`` slots for its work and any nested calls it makes, then travels back. A request
that suffers a rejection anywhere ends with status ``error``; its callers still finish their work.
"""

from __future__ import annotations

from simulator.engine.build import Engine, Progress, simulate
from simulator.engine.protocols import Continuation, Plan

__all__ = ["Continuation", "Engine", "Plan", "Progress", "simulate"]
