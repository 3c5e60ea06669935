"""Which service calls which: the edges ``live up --chaos`` puts a Toxiproxy proxy on.

An edge is one caller service and one instance of a service it calls. Its proxy is named
``<caller>__<instance>`` (``orders__inventory-1``): every instance of the caller reaches that callee
instance through it, since ``edges.json`` routes by caller service (:mod:`live.common.edges`).

Only calls made through the stack's discovery can be rerouted, so :data:`CALLS` lists exactly those:
the gateway forwards to users, orders and inventory and follows the config service; orders reserves
stock at inventory, follows its feature flags at config and relays its outbox to the broker;
inventory consumes from the broker. Calls to the registry itself (registration, lookups) go to the
URL every instance was started with, never through a proxy: a registry outage is an experiment of
its own (stop the registry).
"""

from __future__ import annotations

from dataclasses import dataclass

from live.supervisor.stack import StackState

__all__ = ["CALLS", "SEPARATOR", "Edge", "edges_of", "proxy_name", "split_proxy_name"]

CALLS: dict[str, tuple[str, ...]] = {
    "gateway": ("users", "orders", "inventory", "config"),
    "orders": ("inventory", "config", "broker"),
    "inventory": ("broker",),
}
"""Caller service -> the services it calls through discovery."""

SEPARATOR = "__"


@dataclass(frozen=True)
class Edge:
    """``caller`` calls ``instance`` (of ``callee``) at ``upstream`` (``127.0.0.1:PORT``)."""

    caller: str
    callee: str
    instance: str
    upstream: str

    @property
    def proxy(self) -> str:
        return proxy_name(self.caller, self.instance)


def proxy_name(caller: str, instance: str) -> str:
    """The proxy of an edge: ``orders__inventory-1``."""
    return f"{caller}{SEPARATOR}{instance}"


def split_proxy_name(name: str) -> tuple[str, str, str] | None:
    """``orders__inventory-1`` -> ``("orders", "inventory", "inventory-1")``; None for another proxy."""
    caller, separator, instance = name.partition(SEPARATOR)
    callee = instance.rpartition("-")[0]
    if not separator or caller not in CALLS or callee not in CALLS[caller]:
        return None
    return caller, callee, instance


def edges_of(state: StackState) -> list[Edge]:
    """Every edge of the stack in ``state``: each caller with instances running, each callee instance."""
    edges = []
    for caller, callees in CALLS.items():
        if not state.of(caller):
            continue
        for callee in callees:
            for record in state.of(callee):
                edges.append(Edge(caller, callee, record.instance, f"127.0.0.1:{record.port}"))
    return edges
