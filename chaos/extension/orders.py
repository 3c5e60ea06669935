"""Placing orders as a careful client does, and the ledger of what the shop acknowledged.

Each order gets one fresh ``Idempotency-Key`` and is sent until it has a final answer: 201 (placed,
acknowledged), 409 (rejected: out of stock), or another 4xx; a transport failure, a timeout, 408,
429 or a 5xx is retried with the *same* key after a full-jitter backoff (:mod:`patterns.retry`), or
the answer's ``Retry-After`` if longer, at most ``attempts`` times. The orders go out on the live
load generator's open-loop schedule (:func:`live.loadgen.run_plan`), at most ``concurrency`` at once.

Every order ends as one line of ``<state_dir>/chaos/ledger.jsonl``: ``user``, ``key``, ``status`` (the
last HTTP status, 0 without an answer), ``order_id`` (from a 201 or a 409) and ``attempts``. The
ledger is the client's side of the no-data-loss check (:mod:`chaos.extension.audit`): every order it
saw acknowledged must exist exactly once, whatever the network did to the retries.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

from live.loadgen import Action, Limits, LoadResult, Setup, SetupError, plan_load, run_plan
from live.loadgen.shop import ShopUser, sign_up
from patterns.retry import make_backoff

__all__ = ["FINAL", "LEDGER_FILE", "ledger_path", "order_setup", "place_orders", "read_ledger", "read_users"]

LEDGER_FILE = "ledger.jsonl"
USERS_FILE = "users.json"
WHOLE_RUN = 3600.0
"""Seconds the generator gives one order, queueing included: the retries bound each order, not this."""
MAX_RETRY_AFTER = 5.0
"""The longest ``Retry-After`` (seconds) the client honours before trying again."""
FINAL = frozenset({201, 400, 401, 403, 404, 409, 422})
"""Statuses after which an order is not sent again."""


def ledger_path(state_dir: Path) -> Path:
    return state_dir / "chaos" / LEDGER_FILE


def read_ledger(state_dir: Path) -> list[dict[str, Any]]:
    """Every order placed through :func:`place_orders` on this stack so far."""
    path = ledger_path(state_dir)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


async def _answer(response: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        body = await response.json(content_type=None)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _seconds(retry_after: str | None) -> float:
    """A ``Retry-After`` in seconds (0 when absent or an HTTP date: the backoff decides then)."""
    try:
        return min(float(retry_after or 0), MAX_RETRY_AFTER)
    except ValueError:
        return 0.0


async def _sign_up(session: aiohttp.ClientSession, base: str, attempts: int) -> ShopUser:
    """A fresh user signed in, tried again (as another fresh user: signing up is not idempotent) while
    the faults of the experiment make it fail."""
    for attempt in range(1, attempts + 1):
        try:
            return await sign_up(session, base)
        except (SetupError, aiohttp.ClientError, TimeoutError):
            if attempt == attempts:
                raise
            await asyncio.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


def order_setup(
    base_url: str,
    ledger: list[dict[str, Any]],
    signed_in: list[ShopUser],
    *,
    concurrency: int = 16,
    attempts: int = 8,
    attempt_timeout: float = 10.0,
    seed: int = 0,
) -> Setup:
    """A load generator setup with one action, ``order``: one order sent until answered (module
    docstring), recorded in ``ledger``, by a fresh user appended to ``signed_in``; at most
    ``concurrency`` orders are under way at once, the others wait their turn (their latency counts
    the wait, as a queued user would see it)."""
    base = base_url.rstrip("/")
    timeout = aiohttp.ClientTimeout(total=attempt_timeout)

    async def setup(session: aiohttp.ClientSession) -> Mapping[str, Action]:
        user = await _sign_up(session, base, attempts)
        signed_in.append(user)
        rng = random.Random(seed)
        names, weights = list(user.skus), list(user.skus.values())
        backoff = make_backoff("full_jitter", base=0.05, cap=1.0, rng=rng)
        turns = asyncio.Semaphore(concurrency)

        async def order(session: aiohttp.ClientSession) -> int:
            async with turns:
                return await _place(session)

        async def _place(session: aiohttp.ClientSession) -> int:
            key = uuid.uuid4().hex
            entry: dict[str, Any] = {"user": user.username, "key": key, "status": 0, "order_id": None}
            ledger.append(entry)
            body = {"items": [{"sku": rng.choices(names, weights)[0], "quantity": 1}]}
            headers = {**user.auth, "Idempotency-Key": key}
            delay = None
            for attempt in range(1, attempts + 1):
                entry["attempts"] = attempt
                try:
                    async with session.post(
                        f"{base}/api/orders", json=body, headers=headers, timeout=timeout
                    ) as response:
                        entry["status"], answer = response.status, await _answer(response)
                        retry_after = _seconds(response.headers.get("Retry-After"))
                except (aiohttp.ClientError, TimeoutError):
                    entry["status"], answer, retry_after = 0, {}, 0.0
                if entry["status"] == 201:
                    entry["order_id"] = answer.get("id")
                if entry["status"] == 409:
                    entry["order_id"] = (answer.get("order") or {}).get("id")
                if entry["status"] in FINAL or attempt == attempts:
                    break
                delay = backoff.delay(attempt, delay)
                await asyncio.sleep(max(delay, retry_after))
            return int(entry["status"])

        return {"order": order}

    return setup


def place_orders(
    state_dir: Path,
    gateway: str,
    count: int,
    *,
    rate: float = 200.0,
    concurrency: int = 16,
    attempts: int = 8,
    attempt_timeout: float = 10.0,
    seed: int = 0,
) -> tuple[LoadResult, list[dict[str, Any]]]:
    """Place ``count`` orders through ``gateway``, due at ``rate`` per second, at most ``concurrency`` under
    way at once; append them to the ledger; the load result and the new ledger lines."""
    if count < 1 or concurrency < 1 or attempts < 1:
        raise ValueError(f"count, concurrency, attempts must be >= 1, got {count}, {concurrency}, {attempts}")
    ledger: list[dict[str, Any]] = []
    signed_in: list[ShopUser] = []
    span = (count + 1) / rate  # room for all ``count`` send times
    plan = plan_load(rate, span, {"order": 1.0}, process="constant", seed=seed, max_requests=count)
    bounds = {"concurrency": concurrency, "attempts": attempts, "attempt_timeout": attempt_timeout}
    setup = order_setup(gateway, ledger, signed_in, seed=seed, **bounds)
    # every order is let out (the semaphore queues them), and none is cut short by the generator
    limits = Limits(max_in_flight=count, timeout=WHOLE_RUN, connections=concurrency)
    result = asyncio.run(run_plan(plan, setup, limits))
    path = ledger_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.writelines(json.dumps(entry) + "\n" for entry in ledger)
    _remember(state_dir, signed_in, len(ledger))
    return result, ledger


def _remember(state_dir: Path, users: list[ShopUser], orders: int) -> None:
    """Keep the bearer token of the run's user, to read its orders back (``order_listing_seconds``)."""
    known = read_users(state_dir)
    for user in users:
        known[user.username] = {"token": user.auth["Authorization"].split()[-1], "orders": orders}
    path = state_dir / "chaos" / USERS_FILE
    path.write_text(json.dumps(known, indent=2), encoding="utf-8")
    path.chmod(0o600)


def read_users(state_dir: Path) -> dict[str, dict[str, Any]]:
    """The users :func:`place_orders` signed up: their token and how many orders each placed."""
    path = state_dir / "chaos" / USERS_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
