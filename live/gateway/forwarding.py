"""Sending a request on to an instance of its service: headers, timeouts, retries and their limits.

One client request becomes up to ``retry.attempts`` tries. Each try goes to an instance the route's
balancing policy picks among those not tried yet for this request (all of them again once every one
was tried), with the per-try ``timeout``, never past the request's ``deadline``. A try ends in one of
four outcomes: ``ok`` (any answer below 500), ``5xx``, ``error`` (no connection, or it broke) and
``timeout``. Another try follows only when all of these hold:

- the request may be repeated: its method is in ``retry.methods`` (idempotent ones), or it carries an
  ``Idempotency-Key`` the service uses to recognise the repeat;
- the :class:`patterns.retry.RetryPolicy` says so (attempts left, outcome in ``retry.on``);
- the route's :class:`patterns.retry.RetryBudget` grants a retry (each client request earns a
  fraction of one), so retries cannot multiply the load of a struggling service;
- the backoff wait (``patterns.retry``, full jitter by default) still ends before the deadline.

Headers: hop-by-hop headers (RFC 9110 7.6.1: ``Connection`` and those it lists, ``Keep-Alive``,
``TE``, ``Transfer-Encoding``, ``Upgrade``, ``Proxy-*``, ``Trailer``) are not forwarded either way;
``X-User``/``X-Scopes`` from the client are dropped and set from the verified token instead (``Host``,
``Content-Length`` and ``Expect`` are the gateway's own business with the service);
``Authorization``, ``Idempotency-Key``, ``traceparent``, the content headers and the body go through
unchanged, and ``X-Forwarded-For`` gains the client's address. A redirect's ``Location`` pointing at
the instance is rewritten to point through the gateway.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

import aiohttp
from multidict import CIMultiDict, MultiMapping
from yarl import URL

from live.auth.verify import Claims
from live.common.discovery import Instances
from live.common.instances import InstanceInfo
from live.gateway.errors import GatewayError
from live.gateway.state import RouteState
from patterns.clock import Clock
from patterns.retry import Deadline

__all__ = ["HOP_BY_HOP", "Call", "Forwarder", "Reply", "client_headers", "public_location", "reply_headers"]

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade"}
)  # fmt: skip
_NOT_FORWARDED = frozenset({"host", "content-length", "expect", "x-user", "x-scopes"})
_NOT_RETURNED = frozenset({"content-length"})


def _connection_listed(headers: MultiMapping[str]) -> set[str]:
    """Header names a ``Connection`` header lists: hop-by-hop for this connection only."""
    return {
        token.strip().lower() for value in headers.getall("Connection", ()) for token in value.split(",")
    } - {""}


def client_headers(
    headers: MultiMapping[str], claims: Claims | None, client_ip: str | None
) -> CIMultiDict[str]:
    """The headers to send to the service for a client request with these ``headers``."""
    dropped = HOP_BY_HOP | _NOT_FORWARDED | _connection_listed(headers)
    out: CIMultiDict[str] = CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in dropped)
    if claims is not None:
        out["X-User"] = claims.subject
        out["X-Scopes"] = " ".join(sorted(claims.scopes))
    if client_ip:
        earlier = out.get("X-Forwarded-For")
        out["X-Forwarded-For"] = f"{earlier}, {client_ip}" if earlier else client_ip
    return out


def public_location(location: str, instance: InstanceInfo, public_prefix: str) -> str:
    """A ``Location`` the service sent, as the client must follow it: through the gateway.

    ``http://127.0.0.1:<port>/orders/7`` (the instance itself) and ``/orders/7`` become
    ``<public_prefix>/orders/7``; any other address is left alone.
    """
    for own in (instance.url + "/", "/"):
        if location.startswith(own) and not location.startswith("//"):
            return public_prefix + location[len(own) - 1 :]
    return location


def reply_headers(headers: MultiMapping[str]) -> CIMultiDict[str]:
    """The headers of a service's answer that go back to the client."""
    dropped = HOP_BY_HOP | _NOT_RETURNED | _connection_listed(headers)
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in dropped)


@dataclass(frozen=True)
class Call:
    """A client request as the service will get it."""

    method: str
    path_qs: str  # raw (still percent-encoded) path and query, after the strip
    headers: CIMultiDict[str]
    body: bytes
    client: str  # who is calling (subject or address): the affinity key for consistent hashing

    @property
    def repeatable(self) -> bool:
        return "Idempotency-Key" in self.headers


@dataclass(frozen=True)
class Reply:
    """The last try's result: ``outcome`` ok/5xx/error/timeout; status, headers and body when answered."""

    outcome: str
    instance: InstanceInfo
    attempts: int
    status: int = 0
    headers: CIMultiDict[str] | None = None
    body: bytes = b""
    detail: str = ""  # what went wrong, for error and timeout
    stopped: str = ""  # why no further try was made, when the last one failed


class Forwarder:
    """Sends calls over one shared :class:`aiohttp.ClientSession` to the instances ``instances`` finds."""

    def __init__(self, session: aiohttp.ClientSession, instances: Instances, clock: Clock) -> None:
        self.session = session
        self.instances = instances
        self.clock = clock

    async def forward(self, route: RouteState, call: Call) -> Reply:
        """Try ``call`` on the route's service until an answer below 500 or a reason to stop."""
        config = route.config
        service = config.service
        candidates = await self._instances(service)
        deadline = Deadline(self.clock, config.deadline)
        if route.budget is not None:
            route.budget.record_request()
        may_repeat = call.method in config.retry.methods or call.repeatable
        tried: set[str] = set()
        attempt, delay = 0, None
        while True:
            attempt += 1
            fresh = [i for i in candidates if i.instance not in tried] or candidates
            by_id = {instance.instance: instance for instance in fresh}
            chosen = by_id[route.policy.pick(list(by_id), key=call.client)]  # type: ignore[index]
            tried.add(chosen.instance)
            reply = await self._try(route, chosen, call, attempt, deadline.child(config.timeout))
            if reply.outcome == "ok":
                return reply
            if reply.outcome == "error":
                self.instances.invalidate(service)
            if not may_repeat:
                return replace(reply, stopped=f"{call.method} without an Idempotency-Key is not retried")
            if not route.retry.should_retry(attempt, reply.outcome):
                reason = (
                    "no attempts left"
                    if attempt >= route.retry.max_attempts
                    else f"{reply.outcome} is not retried"
                )
                return replace(reply, stopped=reason)
            if route.budget is not None and not route.budget.try_retry():
                return replace(reply, stopped="retry budget exhausted")
            delay = route.retry.backoff.delay(attempt, delay)
            if deadline.remaining() <= delay:
                return replace(reply, stopped="deadline reached")
            await asyncio.sleep(delay)
            candidates = await self._instances(service, fallback=candidates)

    async def _instances(
        self, service: str, fallback: list[InstanceInfo] | None = None
    ) -> list[InstanceInfo]:
        try:
            found = await self.instances.of(service)
        except Exception as error:  # discover is pluggable: whatever it raises means "not now"
            if fallback:
                return fallback
            raise GatewayError(
                503,
                f"cannot look up the {service} service now: {error or type(error).__name__}",
                service=service,
            ) from None
        if found:
            return found
        if fallback:
            return fallback
        raise GatewayError(503, f"no instance of the {service} service is available", service=service)

    async def _try(
        self, route: RouteState, instance: InstanceInfo, call: Call, attempt: int, timeout: float
    ) -> Reply:
        policy, key = route.policy, instance.instance
        url = URL(instance.url + call.path_qs, encoded=True)
        policy.started(key)
        start = self.clock()
        ok = False
        try:
            async with self.session.request(
                call.method,
                url,
                headers=call.headers,
                data=call.body or None,
                timeout=aiohttp.ClientTimeout(total=max(timeout, 1e-3)),
                allow_redirects=False,
            ) as response:
                body = await response.read()
                ok = response.status < 500
                return Reply(
                    "ok" if ok else "5xx",
                    instance,
                    attempt,
                    response.status,
                    reply_headers(response.headers),
                    body,
                )
        except TimeoutError:
            return Reply("timeout", instance, attempt, detail=f"no answer within {timeout:.3g} s")
        except (aiohttp.ClientError, OSError) as error:
            return Reply("error", instance, attempt, detail=str(error) or type(error).__name__)
        finally:
            policy.finished(key, self.clock() - start, ok)
