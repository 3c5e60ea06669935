"""Chaos Toolkit actions against the live stack (``module: chaos.extension.actions``).

Faults: toxics on edges (:func:`add_toxic`, :func:`remove_toxics`; :func:`start_toxic_churn` keeps
them acting on pooled connections), an instance killed
(:func:`kill_instance`), a service stopped (:func:`stop_service`); their undoing, for rollbacks:
:func:`remove_toxics`, :func:`stop_toxic_churn`, :func:`restart_instances` (every instance whose
process is gone, on its old port), :func:`start_service`. Around them: :func:`scale_service`,
run-time configuration (:func:`set_config`, :func:`unset_config`), a load run (:func:`run_load`) and
:func:`place_orders`.

Edges are named by ``caller`` and ``callee`` (:mod:`chaos.edges`): a service name, an instance
(``inventory-2``) for the callee, or ``"*"`` for every one. Undoing actions never fail for lack of
something to undo, so rollbacks can always run them.
"""

from __future__ import annotations

import json
import logging
import math
import signal
import time
import urllib.error
import urllib.request
from typing import Any

from chaos.client import ToxiproxyError
from chaos.edges import split_proxy_name
from chaos.extension.churn import Churn
from chaos.extension.load import shop_load
from chaos.extension.orders import place_orders as place
from chaos.extension.stack import (
    Configuration,
    ExperimentError,
    existing_stack,
    state_dir,
    state_of,
    toxiproxy,
)
from chaos.extension.timeline import append_requests
from live.config.client import ConfigClient, ConfigClientError
from live.loadgen import generator_metrics, load_metrics
from live.supervisor import READY_TIMEOUT, StackState
from live.supervisor.processes import stop_all

__all__ = [
    "add_toxic",
    "kill_instance",
    "place_orders",
    "remove_toxics",
    "restart_instances",
    "run_load",
    "scale_service",
    "set_config",
    "start_service",
    "start_toxic_churn",
    "stop_service",
    "stop_toxic_churn",
    "unset_config",
]

log = logging.getLogger("chaostoolkit")


def _matching(caller: str, callee: str, configuration: Configuration) -> list[str]:
    """The proxies of the edges from ``caller`` to ``callee`` (names, ``*`` or instances)."""
    chosen = []
    for name in toxiproxy(configuration).proxies():
        edge = split_proxy_name(name)
        if edge is None:
            continue
        source, service, instance = edge
        if caller in ("*", source) and callee in ("*", service, instance):
            chosen.append(name)
    if not chosen:
        raise ExperimentError(f"no edge from {caller!r} to {callee!r} has a proxy")
    return sorted(chosen)


def add_toxic(
    type: str,
    caller: str = "*",
    callee: str = "*",
    attributes: dict[str, Any] | None = None,
    stream: str = "downstream",
    toxicity: float = 1.0,
    name: str | None = None,
    configuration: Configuration = None,
) -> list[str]:
    """Add a Toxiproxy toxic (``latency``, ``bandwidth``, ``timeout``, ``reset_peer``, ...) to every edge
    from ``caller`` to ``callee``; the proxies it went on."""
    client = toxiproxy(configuration)
    body = {
        "name": name or f"{type}_{stream}",
        "type": type,
        "stream": stream,
        "toxicity": toxicity,
        "attributes": attributes or {},
    }
    proxies = _matching(caller, callee, configuration)
    for proxy in proxies:
        client.add_toxic(proxy, body)
    log.info("toxic %s on %s", body["name"], ", ".join(proxies))
    return proxies


def remove_toxics(
    caller: str = "*", callee: str = "*", name: str | None = None, configuration: Configuration = None
) -> int:
    """Remove the toxics (only those called ``name``, if given) from the edges from ``caller`` to
    ``callee``; how many were removed. Nothing to remove is not an error."""
    client = toxiproxy(configuration)
    removed = 0
    try:
        proxies = _matching(caller, callee, configuration)
    except ExperimentError:
        return 0
    for proxy in proxies:
        for toxic in client.toxics(proxy):
            if name is None or toxic["name"] == name:
                try:
                    client.remove_toxic(proxy, toxic["name"])
                    removed += 1
                except ToxiproxyError:
                    pass  # removed meanwhile (a reset from another rollback): the aim is met
    log.info("removed %d toxics", removed)
    return removed


_CHURNS: list[Churn] = []  # the churns running in this process (one experiment at a time)


def start_toxic_churn(
    period: float = 2.0, caller: str = "*", callee: str = "*", configuration: Configuration = None
) -> float:
    """Keep re-rolling the toxics on the edges from ``caller`` to ``callee`` every ``period`` seconds
    (:mod:`chaos.extension.churn`) until :func:`stop_toxic_churn`; the period."""
    stop_toxic_churn()
    client = toxiproxy(configuration)
    _CHURNS.append(Churn(client, lambda: _matching(caller, callee, configuration), period).start())
    return period


def stop_toxic_churn(configuration: Configuration = None) -> int:
    """Stop the churn, if one runs; how many rounds it made (0 if none ran)."""
    rounds = 0
    while _CHURNS:
        rounds += _CHURNS.pop().stop()
    return rounds


def kill_instance(instance: str, configuration: Configuration = None) -> str:
    """SIGKILL one instance (no draining, no deregistration: a crash); its name."""
    found = [record for record in state_of(configuration).instances if record.instance == instance]
    if not found:
        raise ExperimentError(f"no instance {instance!r} in the stack")
    found[0].handle.signal(signal.SIGKILL)
    log.info("killed %s (pid %d)", instance, found[0].pid)
    return instance


def stop_service(service: str, configuration: Configuration = None) -> list[str]:
    """Stop every instance of ``service`` gracefully (SIGTERM, then SIGKILL after the grace period)."""
    stack = existing_stack(configuration)
    records = stack.state.of(service)
    if not records:
        raise ExperimentError(f"no instance of {service!r} in the stack")
    stop_all([record.handle for record in records], stack.grace)
    log.info("stopped %s", ", ".join(record.instance for record in records))
    return [record.instance for record in records]


def restart_instances(service: str | None = None, configuration: Configuration = None) -> list[str]:
    """Start again every instance (of ``service``, if given) whose process is gone, on its old port,
    and wait until it is ready and the registry lists every instance again; the instances restarted."""
    stack = existing_stack(configuration)
    gone = [
        record.instance
        for record in stack.state.instances
        if service in (None, record.service) and not record.handle.alive()
    ]
    if gone:
        stack.restart(gone)
        log.info("restarted %s", ", ".join(gone))
        _await_listed(stack.state)
    return gone


def _listed(registry: str, service: str) -> set[str]:
    try:
        with urllib.request.urlopen(f"{registry}/services/{service}", timeout=2.0) as response:
            return {item["instance"] for item in json.loads(response.read())["instances"]}
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        return set()


def _await_listed(state: StackState, timeout: float = READY_TIMEOUT) -> None:
    """Wait until the registry lists every running instance again: a restarted instance is routable
    only after the registry's next health check, and a restarted registry knows each instance only
    after its next heartbeat. ExperimentError after ``timeout`` seconds."""
    registry = state.url("registry")
    wanted = {r.instance: r.service for r in state.instances if r.service != "registry" and r.handle.alive()}
    deadline = time.monotonic() + timeout
    while registry is not None and wanted:
        for service in set(wanted.values()):
            for instance in _listed(registry, service):
                wanted.pop(instance, None)
        if wanted and time.monotonic() > deadline:
            raise ExperimentError(f"the registry does not list {', '.join(sorted(wanted))} again")
        if wanted:
            time.sleep(0.1)


def start_service(service: str, configuration: Configuration = None) -> list[str]:
    """Start the stopped instances of ``service`` again (:func:`restart_instances` for one service)."""
    return restart_instances(service, configuration)


def scale_service(service: str, count: int, configuration: Configuration = None) -> int:
    """Run exactly ``count`` instances of ``service`` (new ones get proxies on their edges)."""
    existing_stack(configuration).scale(service, count)
    return count


def set_config(key: str, value: Any, configuration: Configuration = None) -> dict[str, Any]:
    """Write a run-time configuration key (``gateway.routes.orders.breaker``: null switches it off)."""
    return ConfigClient.for_stack(state_dir(configuration)).set(key, value)


def unset_config(key: str, configuration: Configuration = None) -> bool:
    """Drop a run-time key: its environment value applies again. Never fails for an unset key."""
    client = ConfigClient.for_stack(state_dir(configuration))
    try:
        client.unset(key)
    except ConfigClientError as error:  # the key had no run-time value: nothing to undo
        log.info("unset %s: %s", key, error)
        return False
    return True


def run_load(
    rate: float = 20,
    duration: float = 10,
    mix: str = "browse=0.7,order=0.3",
    seed: int = 0,
    configuration: Configuration = None,
) -> dict[str, float | None]:
    """An open-loop load run through the gateway (the live load generator); its summary metrics (None
    where undefined: no latency when nothing was answered)."""
    result = shop_load("run_load", rate, duration, mix, seed, configuration)
    metrics = {**load_metrics(result), **generator_metrics(result)}
    return {name: None if math.isnan(value) else value for name, value in metrics.items()}  # JSON has no NaN


def place_orders(
    count: int = 100,
    rate: float = 200,
    concurrency: int = 16,
    attempts: int = 8,
    attempt_timeout: float = 10,
    seed: int = 0,
    configuration: Configuration = None,
) -> dict[str, int]:
    """Place ``count`` orders through the gateway, each retried under one idempotency key until answered
    (:mod:`chaos.extension.orders`); how many were acknowledged, rejected, left unanswered, retried."""
    folder = state_dir(configuration)
    gateway = state_of(configuration).url("gateway") or ""
    result, ledger = place(
        folder,
        gateway,
        count,
        rate=rate,
        concurrency=concurrency,
        attempts=attempts,
        attempt_timeout=attempt_timeout,
        seed=seed,
    )
    append_requests(folder, result, "place_orders")
    summary = {
        "orders": len(ledger),
        "acknowledged": sum(entry["status"] == 201 for entry in ledger),
        "rejected": sum(entry["status"] == 409 for entry in ledger),
        "unanswered": sum(entry["status"] not in (201, 409) for entry in ledger),
        "retried": sum(entry.get("attempts", 1) > 1 for entry in ledger),
        "attempts": sum(entry.get("attempts", 1) for entry in ledger),
    }
    log.info("placed orders: %s", summary)
    return summary
