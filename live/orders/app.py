"""Orders' HTTP API (FastAPI): idempotent creates that reserve stock at inventory, list, get, cancel.

The caller is whoever the gateway names in ``X-User`` (401 without it). Routes (the gateway forwards
``/api/orders...`` here as ``/orders...``):

* ``POST /orders`` with ``Idempotency-Key`` (400 without it) and ``{"items": [{sku, quantity}]}``.
  The key (per user) first records a ``pending`` order; stock is then reserved at inventory under a
  request id derived from the order, and the order becomes ``placed`` (201, with ``OrderPlaced`` in the
  outbox in the same transaction) or ``rejected`` (409 with inventory's reason). When inventory cannot
  answer, 503 and the order stays ``pending``: a retry with the same key tries the reservation again
  (inventory's idempotency makes a reservation that did happen come back instead of a second one),
  and so does the service itself for orders nobody retried within ``settle_pending_after`` seconds
  (forward recovery: a timed-out reservation that did happen is not left holding stock unowned).
  A retry of a settled order replays it with ``Idempotent-Replayed: true``; the same key with other
  items is 422. Concurrent retries, on any replica, all join the one order.
* ``GET /orders`` (the caller's, newest first), ``GET /orders/{id}`` (404 unknown, 403 another user's).
* ``POST /orders/{id}/cancel``: releases the reservation at inventory, then ``placed -> cancelled``
  with ``OrderCancelled`` in the outbox; cancelling a cancelled order answers it again (200); a
  pending or rejected order cannot be cancelled (409).

With a broker (``python -m live.orders`` in the stack), an :class:`~live.orders.outbox.OutboxRelay`
publishes the outbox's events to the stream ``orders`` while the app runs (every replica runs one;
consumers deduplicate by ``event_id``).

Every error is JSON in the stack's common shape (:mod:`live.common.errors`) with a machine-readable
``code``: ``{"error": message, "status": 409, "code": "order_rejected", ...}``; an invalid body is a
422 whose ``problems`` name each bad field (``body.items.0.quantity: ...``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import aiohttp
from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from live.common.errors import error_body, install_json_errors
from live.common.features import FeatureFlags
from live.common.instances import Discover
from live.common.observability import observability_of
from live.common.settings import InstanceSettings
from live.events.broker import Broker
from live.events.streams import ORDER_EVENTS
from live.orders.inventory import InventoryClient, InventoryUnavailableError, StockRefusedError
from live.orders.outbox import OutboxEvent, OutboxRelay
from live.orders.store import KeyReusedError, Order, OrderStore
from patterns.balancing import Policy, RoundRobin

__all__ = ["ApiError", "Orders", "create_app", "outgoing_headers", "relaying"]

log = logging.getLogger("servicelab.live.orders")

MAX_KEY_LENGTH = 200


class ApiError(Exception):
    """An error answer: ``status``, a ``message`` for people and a ``code`` for programs."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = dict(headers or {})
        self.extra = extra

    def response(self) -> JSONResponse:
        body = error_body(self.status, self.message, code=self.code, **self.extra)
        return JSONResponse(body, status_code=self.status, headers=self.headers)


class LineIn(BaseModel):
    """One line of an order."""

    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=64)
    quantity: StrictInt = Field(ge=1, le=1_000_000)


class OrderIn(BaseModel):
    """A create request's body."""

    model_config = ConfigDict(extra="forbid")
    items: list[LineIn] = Field(min_length=1, max_length=100)

    @field_validator("items")
    @classmethod
    def distinct_skus(cls, items: list[LineIn]) -> list[LineIn]:
        skus = [line.sku for line in items]
        repeated = sorted({sku for sku in skus if skus.count(sku) > 1})
        if repeated:
            raise ValueError(f"each sku may appear once; repeated: {', '.join(repeated)}")
        return items


class OrderOut(BaseModel):
    """An order as the API shows it."""

    id: str
    user: str
    status: Literal["pending", "placed", "rejected", "cancelled"]
    items: list[LineIn]
    reservation_id: str | None
    rejection: dict[str, Any] | None = Field(description="Inventory's reason, for a rejected order.")
    created_at: str
    updated_at: str


class ErrorOut(BaseModel):
    """The common error shape."""

    error: str = Field(description="What went wrong, for people.")
    status: int
    code: str = Field(description="What went wrong, for programs (order_rejected, ...).")


def outgoing_headers(request: Request) -> dict[str, str]:
    """Headers to send on a call made while serving ``request``: its W3C ``traceparent``, if it had one.

    The stack's instrumentation will replace this with its own client headers.
    """
    traceparent = request.headers.get("traceparent")
    return {"traceparent": traceparent} if traceparent else {}


def caller(x_user: Annotated[str | None, Header(alias="X-User")] = None) -> str:
    """The user the gateway authenticated."""
    if x_user is None or not x_user.strip():
        raise ApiError(401, "unauthenticated", "no X-User header: orders is reached through the gateway")
    return x_user


def idempotency_key(key: Annotated[str | None, Header(alias="Idempotency-Key")] = None) -> str:
    if key is None or not key.strip():
        raise ApiError(400, "idempotency_key_missing", "POST /orders needs an Idempotency-Key header")
    if len(key) > MAX_KEY_LENGTH:
        raise ApiError(400, "idempotency_key_invalid", f"Idempotency-Key is longer than {MAX_KEY_LENGTH}")
    return key


User = Annotated[str, Depends(caller)]


class Orders:
    """The service's parts: its store and its inventory client (the latter made at startup)."""

    def __init__(self, store: OrderStore) -> None:
        self.store = store
        self.inventory: InventoryClient | None = None

    def client(self) -> InventoryClient:
        assert self.inventory is not None, "the app's lifespan has not started"
        return self.inventory

    async def owned(self, order_id: str, user: str) -> Order:
        order = await asyncio.to_thread(self.store.get, order_id)
        if order is None:
            raise ApiError(404, "unknown_order", f"no order {order_id!r}", order_id=order_id)
        if order.owner != user:
            raise ApiError(403, "forbidden", f"order {order_id!r} belongs to another user", order_id=order_id)
        return order

    async def settle(self, order: Order, headers: Mapping[str, str]) -> Order:
        """Reserve a pending order's stock and record the outcome: placed, rejected, or 503 (pending)."""
        inventory = self.client()
        try:
            reservation = await inventory.reserve(order.request_id, order.id, order.items, headers)
        except StockRefusedError as refused:
            return (await asyncio.to_thread(self.store.reject, order.id, refused.reason)).order
        except InventoryUnavailableError as down:
            raise ApiError(
                503,
                "inventory_unavailable",
                f"stock could not be reserved ({down}); order {order.id} is pending: "
                "retry with the same Idempotency-Key (or it settles by itself once inventory is back)",
                headers={"Retry-After": "1"},
                order_id=order.id,
            ) from down
        settled = await asyncio.to_thread(self.store.place, order.id, reservation["id"])
        if settled.order.status == "rejected":
            # A racing attempt was refused before this one reserved: the order stays rejected and the
            # reservation this attempt made is given back.
            try:
                await inventory.release(order.request_id, headers)
            except InventoryUnavailableError:
                log.warning("order %s: could not release the reservation of a rejected order", order.id)
        return settled.order

    async def settle_stale(self, older_than: float) -> int:
        """Settle the orders pending for over ``older_than`` seconds; returns how many were settled.

        Stops at the first that cannot be settled (inventory still unavailable) until the next round.
        """
        settled = 0
        for order in await asyncio.to_thread(self.store.stale_pending, older_than):
            try:
                await self.settle(order, {})
            except ApiError:
                break
            settled += 1
        return settled

    async def settle_stale_forever(self, older_than: float) -> None:
        """Every ``older_than / 2`` seconds, :meth:`settle_stale` (until cancelled at shutdown)."""
        while True:
            await asyncio.sleep(older_than / 2)
            try:
                await self.settle_stale(older_than)
            except Exception:
                log.exception("settling stale pending orders failed; trying again next round")


def _client_session(app: FastAPI) -> aiohttp.ClientSession:
    """The instrumented client (CLIENT spans, ``traceparent`` injected) once :func:`instrument` was
    applied to ``app`` (as ``python -m live.orders`` does), else a plain one (tests)."""
    try:
        return observability_of(app).client_session()
    except LookupError:
        return aiohttp.ClientSession()


def _created_response(order: Order, replayed: bool) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    if order.status == "rejected":
        reason = (order.rejection or {}).get("error", "refused by inventory")
        body = error_body(409, f"order rejected: {reason}", code="order_rejected", order=order.to_json())
        return JSONResponse(body, status_code=409, headers=headers)
    return JSONResponse(order.to_json(), status_code=201, headers=headers)


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in {
        400: "Idempotency-Key missing.",
        401: "No X-User (not through the gateway).",
        403: "Another user's order, or cancelling is switched off (features.orders.cancel_enabled).",
        404: "No such order.",
        409: "Rejected by inventory, or not cancellable in its state.",
        503: "Inventory unavailable; the order stays pending, retry with the same key.",
    }.items()
}


@asynccontextmanager
async def relaying(store: OrderStore, broker: Broker | None, interval: float) -> AsyncIterator[None]:
    """Relay ``store``'s outbox to ``broker`` (if any) for the span of the block, then close the broker."""
    if broker is None:
        yield
        return

    async def publish(event: OutboxEvent) -> None:
        await broker.publish(ORDER_EVENTS, event.to_json())

    stop = asyncio.Event()
    relay = asyncio.create_task(OutboxRelay(store, publish).run(interval, stop))
    try:
        yield
    finally:
        stop.set()
        await relay
        await broker.close()


def create_app(
    settings: InstanceSettings,
    *,
    discover: Discover,
    policy: Policy | None = None,
    timeout: float = 2.0,
    settle_pending_after: float = 10.0,
    features: FeatureFlags | None = None,
    broker: Broker | None = None,
    relay_interval: float = 0.2,
) -> FastAPI:
    """The orders app on ``settings.database``, reaching inventory through ``discover`` and ``policy``.

    ``features``: its flags at the config service (``features.orders.cancel_enabled``, default on:
    while off, cancelling answers 403); None: every feature on.

    ``policy`` (default :class:`~patterns.balancing.RoundRobin`) picks among inventory's instances;
    ``timeout`` (seconds) bounds each call to inventory; orders still pending ``settle_pending_after``
    seconds after their creation (their client gave up after a 503) are settled by the service itself.
    Any number of replicas may do so at once: settling is idempotent. With a ``broker``, the outbox
    is relayed to it every ``relay_interval`` seconds (at once while there is a backlog).
    """
    if settle_pending_after <= timeout:
        raise ValueError(
            f"settle_pending_after must exceed the inventory timeout, got "
            f"settle_pending_after={settle_pending_after!r}, timeout={timeout!r}"
        )
    orders = Orders(OrderStore(settings.database))
    chosen = policy if policy is not None else RoundRobin()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with _client_session(app) as session:
            orders.inventory = InventoryClient(session, discover, chosen, timeout)
            recovery = asyncio.create_task(orders.settle_stale_forever(settle_pending_after))
            async with relaying(orders.store, broker, relay_interval):
                yield
            recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recovery
            orders.inventory = None
        orders.store.db.close()

    app = FastAPI(title="servicelab orders", version="1.0.0", lifespan=lifespan)
    install_json_errors(app)
    app.state.orders = orders

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return error.response()

    @app.post(
        "/orders",
        status_code=201,
        response_model=OrderOut,
        responses={k: v for k, v in _ERRORS.items() if k in (400, 401, 409, 503)},
    )
    async def create_order(
        body: OrderIn, request: Request, user: User, key: Annotated[str, Depends(idempotency_key)]
    ) -> JSONResponse:
        """Create an order (idempotent by Idempotency-Key), reserving its stock at inventory."""
        items = [line.model_dump() for line in body.items]
        try:
            begun = await asyncio.to_thread(orders.store.begin, user, key, items)
        except KeyReusedError as reused:
            raise ApiError(422, "idempotency_key_reused", str(reused), order_id=reused.order_id) from reused
        order = begun.order
        if order.status == "pending":
            order = await orders.settle(order, outgoing_headers(request))
        return _created_response(order, replayed=not begun.created)

    @app.get("/orders", response_model=list[OrderOut], responses={401: _ERRORS[401]})
    async def list_orders(user: User) -> JSONResponse:
        """The caller's orders, newest first."""
        found = await asyncio.to_thread(orders.store.orders_of, user)
        return JSONResponse([order.to_json() for order in found])

    @app.get(
        "/orders/{order_id}",
        response_model=OrderOut,
        responses={k: v for k, v in _ERRORS.items() if k in (401, 403, 404)},
    )
    async def get_order(order_id: str, user: User) -> JSONResponse:
        """One of the caller's orders."""
        return JSONResponse((await orders.owned(order_id, user)).to_json())

    @app.post(
        "/orders/{order_id}/cancel",
        response_model=OrderOut,
        responses={k: v for k, v in _ERRORS.items() if k in (401, 403, 404, 409, 503)},
    )
    async def cancel_order(order_id: str, request: Request, user: User) -> JSONResponse:
        """Cancel a placed order, giving its stock back (cancelling again answers the cancelled order)."""
        if features is not None and not features.enabled("cancel_enabled"):
            raise ApiError(
                403,
                "feature_disabled",
                "cancelling orders is switched off for now (feature flag features.orders.cancel_enabled)",
            )
        order = await orders.owned(order_id, user)
        if order.status in ("pending", "rejected"):
            raise ApiError(
                409,
                f"order_{order.status}",
                f"order {order.id} is {order.status}: only a placed order can be cancelled "
                "(a pending order settles when its create is retried with the same Idempotency-Key)",
                order_id=order.id,
            )
        if order.status == "placed":
            try:
                await orders.client().release(order.request_id, outgoing_headers(request))
            except InventoryUnavailableError as down:
                raise ApiError(
                    503,
                    "inventory_unavailable",
                    f"the reservation could not be released ({down}); order {order.id} is still placed",
                    headers={"Retry-After": "1"},
                    order_id=order.id,
                ) from down
            order = (await asyncio.to_thread(orders.store.cancel, order.id)).order
        return JSONResponse(order.to_json())

    return app
