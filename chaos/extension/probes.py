"""Chaos Toolkit probes against the live stack (``module: chaos.extension.probes``).

Tolerances go with them in the experiment: ``shop_latency``, ``shop_error_rate`` and
``order_listing_seconds`` are numbers (``type: range``), ``service_ready`` a boolean, and the audit
counts (:mod:`chaos.extension.audit`) integers that must be ``0``. The load probes send a short
open-loop run through the gateway with the live load generator and leave its requests on the
experiment's timeline.
"""

from __future__ import annotations

import logging
import math
import time
import urllib.error
import urllib.request

from chaos.extension.audit import Audit, audit
from chaos.extension.load import shop_load
from chaos.extension.orders import read_users
from chaos.extension.stack import Configuration, existing_stack, state_dir, state_of
from live.loadgen import LoadResult, load_metrics

__all__ = [
    "NOTHING_ANSWERED",
    "acknowledged_orders_missing",
    "duplicate_orders",
    "order_listing_seconds",
    "service_ready",
    "shop_error_rate",
    "shop_latency",
    "stock_discrepancies",
]

log = logging.getLogger("chaostoolkit")

NOTHING_ANSWERED = -1.0
"""What ``shop_latency`` returns when no request was answered: outside any ``[0, x]`` range."""


def _load(name: str, rate: float, duration: float, mix: str, configuration: Configuration) -> LoadResult:
    return shop_load(name, rate, duration, mix, int(time.time()), configuration)


def shop_latency(
    percentile: float = 99,
    rate: float = 20,
    duration: float = 3,
    mix: str = "browse=0.7,order=0.3",
    include_errors: bool = False,
    configuration: Configuration = None,
) -> float:
    """The ``percentile`` latency (seconds) of the successful requests of a short load run; with
    ``include_errors``, of every request that got an HTTP answer (how long users wait for *an* answer:
    a breaker's fast 503 counts)."""
    result = _load(f"shop_latency p{percentile:g}", rate, duration, mix, configuration)
    frame = result.requests
    counted = frame["status"] > 0 if include_errors else frame["outcome"] == "ok"
    answered = frame.loc[counted, "latency"]
    value = float(answered.quantile(percentile / 100)) if len(answered) else math.nan
    log.info("shop latency p%g: %.3f s over %d answered requests", percentile, value, len(answered))
    return NOTHING_ANSWERED if math.isnan(value) else value


def shop_error_rate(
    rate: float = 20,
    duration: float = 3,
    mix: str = "browse=0.7,order=0.3",
    configuration: Configuration = None,
) -> float:
    """The share of the requests of a short load run that got no good answer (0 to 1)."""
    metrics = load_metrics(_load("shop_error_rate", rate, duration, mix, configuration))
    log.info("shop error rate: %.3f over %d requests", metrics["error_rate"], metrics["requests"])
    return float(metrics["error_rate"])


def service_ready(service: str, configuration: Configuration = None) -> bool:
    """Whether ``service`` has instances and every one of them answers ``/ready`` with 200."""
    rows = [row for row in existing_stack(configuration).status() if row["service"] == service]
    seen = ", ".join(f"{row['instance']} ready={row['ready']}" for row in rows)
    log.info("%s: %s", service, seen or "no instance")
    return bool(rows) and all(row["ready"] for row in rows)


def _audit(configuration: Configuration, settle_timeout: float) -> Audit:
    found = audit(state_dir(configuration), settle_timeout)
    for kind, problems in found.problems.items():
        for problem in problems[:20]:
            log.warning("audit %s: %s", kind, problem)
    log.info("audit: %s", found.counts)
    return found


def acknowledged_orders_missing(settle_timeout: float = 60, configuration: Configuration = None) -> int:
    """How many orders the client saw acknowledged are not in the orders database as placed."""
    return _audit(configuration, settle_timeout).count("missing")


def duplicate_orders(settle_timeout: float = 60, configuration: Configuration = None) -> int:
    """How many orders were acknowledged twice under one key, or hold more than one reservation."""
    return _audit(configuration, settle_timeout).count("duplicates")


def stock_discrepancies(settle_timeout: float = 60, configuration: Configuration = None) -> int:
    """How many ways inventory is not conserved against the placed orders (0: conserved)."""
    return _audit(configuration, settle_timeout).count("stock")


def order_listing_seconds(timeout: float = 30, configuration: Configuration = None) -> float:
    """Seconds to list every order of the user of the latest ``place_orders`` (a response as large as
    the orders it placed); -1 if it failed, 0 while nobody has placed orders through
    :func:`~chaos.extension.actions.place_orders` (nothing to list: a hypothesis checked before the
    method that places them holds)."""
    state = state_of(configuration)
    users = read_users(state_dir(configuration))
    if not users:
        log.info("no orders were placed through place_orders yet: nothing to list")
        return 0.0
    user, token = list(users.items())[-1]
    request = urllib.request.Request(
        f"{state.url('gateway')}/api/orders", headers={"Authorization": f"Bearer {token['token']}"}
    )
    start = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            size = len(response.read())
    except (urllib.error.URLError, OSError) as error:
        log.warning("listing the orders of %s failed: %s", user, error)
        return NOTHING_ANSWERED
    seconds = time.monotonic() - start
    log.info("listed the orders of %s: %d bytes in %.3f s", user, size, seconds)
    return seconds
