"""The toxics of Toxiproxy 2.x, by the ``type`` name the API uses."""

from __future__ import annotations

from chaos.toxiproxy.toxics.bandwidth import Bandwidth
from chaos.toxiproxy.toxics.base import Chunk, Stage, Toxic, forward_all
from chaos.toxiproxy.toxics.latency import Latency
from chaos.toxiproxy.toxics.limit_data import LimitData
from chaos.toxiproxy.toxics.noop import Noop
from chaos.toxiproxy.toxics.reset_peer import ResetPeer
from chaos.toxiproxy.toxics.slicer import Slicer
from chaos.toxiproxy.toxics.slow_close import SlowClose
from chaos.toxiproxy.toxics.timeout import Timeout

__all__ = ["TOXICS", "Chunk", "Stage", "Toxic", "forward_all"]

TOXICS: dict[str, type[Toxic]] = {
    kind.TYPE: kind for kind in (Latency, Bandwidth, SlowClose, Timeout, ResetPeer, Slicer, LimitData, Noop)
}
"""Toxic type name -> its class (a fresh instance has Toxiproxy's default attributes, all 0)."""
