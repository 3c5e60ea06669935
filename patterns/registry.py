"""Service registry and client-side discovery, modelled on Consul and Eureka.

The model
---------
A service instance *registers* itself (service name, a globally unique instance id, an address) and
then proves it is alive by *heartbeating* at least once every ``ttl`` seconds. Separately, a health
checker probes it and *reports* a :class:`Health`: callers route to PASSING and WARNING instances and
never to CRITICAL ones. Instances leave in one of three ways:

* graceful stop: the instance calls :meth:`Registry.deregister` on its way out;
* crash: heartbeats stop, and the next :meth:`Registry.evict_expired` sweep after the TTL ran out
  removes it (kind ``"expire"``);
* stuck unhealthy: CRITICAL for longer than ``deregister_critical_after`` (Consul's
  ``DeregisterCriticalServiceAfter``), evicted by the same sweep (kind ``"evict_critical"``).

Liveness (TTL) and health (checks) are deliberately separate, as in Consul: a heartbeat does not make a
CRITICAL instance healthy, and a report does not renew the TTL.

Time convention
---------------
Deadlines are *strict*: an instance whose last heartbeat was at ``h`` is expired only when
``now - h > ttl``, so at exactly ``h + ttl`` it is still alive and any instant later it is not. The
same convention holds for ``deregister_critical_after`` and for :class:`DiscoveryCache` entries
(fresh while ``age <= refresh_interval``). :class:`HealthCheck` is the exception: it is *due* once
``now - last_run >= interval``, because "the time has come" includes the moment itself.

Where callers get it wrong: the stale window
--------------------------------------------
Nothing here is pushed to callers. A crashed instance whose last heartbeat was at ``h`` is still listed
by the registry until the first sweep after ``h + ttl``, and a :class:`DiscoveryCache` that fetched the
list at ``f`` keeps returning it until ``f + refresh_interval``. So callers may send to a dead instance
for up to about ``ttl + sweep period + refresh_interval`` after its last heartbeat. Each timing
parameter trades that window against something else:

* shorter ``ttl``: crashed instances are evicted sooner, but instances must heartbeat more often
  (more registry traffic) and a live instance that pauses longer than ``ttl`` (GC, a slow network,
  a busy host) is evicted by mistake and drops out of rotation until it heartbeats or re-registers;
* shorter ``refresh_interval``: callers see changes sooner, but every client fetches more often, which
  is the load that takes registries down at scale;
* shorter health-check ``interval`` and lower thresholds: unhealthy instances leave rotation sooner,
  but probes cost the instance work and a single slow response flaps it in and out of rotation;
* shorter ``deregister_critical_after``: broken instances stop cluttering the catalogue sooner, but an
  instance that would have recovered must register again.

The ``index`` counter grows by one on every change a reader could see (as ``X-Consul-Index``): a
registration, a changed address or metadata, a deregistration, a health status change, an eviction.
Heartbeats and identical re-registrations change nothing visible and leave it alone, so a blocking
query or a cache can compare indexes to learn whether anything changed at all.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple

from patterns.clock import Clock

__all__ = ["Change", "DiscoveryCache", "Health", "HealthCheck", "Instance", "Registry"]


def _check_seconds(name: str, value: float | None, *, allow_none: bool = False) -> None:
    if allow_none and value is None:
        return
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0  # NaN fails `> 0`
    if not ok:
        raise ValueError(f"{name} must be a positive number of seconds, got {name}={value!r}")


def _check_count(name: str, value: int) -> None:
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        raise ValueError(f"{name} must be an integer >= 1, got {name}={value!r}")


class Health(StrEnum):
    """The outcome of health checking, with Consul's names. Callers route to PASSING and WARNING."""

    PASSING = "passing"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def routable(self) -> bool:
        """Whether callers may send requests to an instance in this state."""
        return self is not Health.CRITICAL


def _frozen_metadata(metadata: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(metadata or {}))


@dataclass(frozen=True, slots=True)
class Instance:
    """One running copy of a service, as it registers itself.

    ``metadata`` (version, zone, weight, ...) is copied into a read-only mapping, so an instance never
    changes behind the registry's back; it takes no part in hashing.
    """

    service: str
    instance_id: str
    address: str
    metadata: Mapping[str, str] = field(default_factory=_frozen_metadata, hash=False)

    def __post_init__(self) -> None:
        for name in ("service", "instance_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"an instance needs a non-empty string {name}, got {name}={value!r}")
        object.__setattr__(self, "metadata", _frozen_metadata(self.metadata))


class Change(NamedTuple):
    """One entry of :attr:`Registry.changes`.

    ``kind`` is one of ``"register"`` (new instance), ``"update"`` (re-registered with a different
    address or metadata), ``"deregister"``, ``"health"`` (status changed), ``"expire"`` (evicted: no
    heartbeat within the TTL) and ``"evict_critical"`` (evicted: CRITICAL too long).
    """

    time: float
    kind: str
    service: str
    instance_id: str


@dataclass(slots=True)
class _Entry:
    instance: Instance
    last_heartbeat: float
    health: Health = Health.PASSING
    note: str = ""
    critical_since: float | None = None


class Registry:
    """The catalogue of live instances, kept current by heartbeats, health reports and sweeps.

    ``ttl`` is the liveness deadline: an instance that has not heartbeated (or registered) for longer
    than ``ttl`` seconds is evicted by the next :meth:`evict_expired`. ``deregister_critical_after``, if
    set, also evicts instances that stayed CRITICAL for longer than that many seconds. A new instance
    starts PASSING. ``history`` bounds :attr:`changes`, the most recent changes kept for inspection.

    The registry never sweeps by itself (it has no timer): the simulator or the live service calls
    :meth:`evict_expired` periodically, and the period adds to the time a dead instance stays listed.
    """

    def __init__(
        self,
        clock: Clock,
        ttl: float = 30.0,
        deregister_critical_after: float | None = None,
        *,
        history: int = 1000,
    ) -> None:
        _check_seconds("ttl", ttl)
        _check_seconds("deregister_critical_after", deregister_critical_after, allow_none=True)
        _check_count("history", history)
        self.clock = clock
        self.ttl = ttl
        self.deregister_critical_after = deregister_critical_after
        self.index = 0
        """Grows by one on every change a reader could see; reads and heartbeats leave it alone."""
        self.changes: deque[Change] = deque(maxlen=history)
        """The most recent changes, oldest first: ``(time, kind, service, instance_id)``."""
        self._services: dict[str, dict[str, _Entry]] = {}
        self._owner: dict[str, str] = {}  # instance_id -> service, so ids stay globally unique

    # -- writes --------------------------------------------------------------------------------

    def register(self, instance: Instance) -> None:
        """Add ``instance``, or refresh it if already registered.

        Re-registering renews the heartbeat and replaces address and metadata; it keeps the reported
        health (the checks, not the instance, decide that). Only a re-registration that changes what
        readers see counts as a change. Registering an instance id that belongs to another service is
        a ``ValueError``: ids are unique across the registry.
        """
        if not isinstance(instance, Instance):
            raise TypeError(f"register() takes an Instance, got {instance!r}")
        now = self.clock()
        owner = self._owner.get(instance.instance_id)
        if owner is not None and owner != instance.service:
            raise ValueError(
                f"instance id {instance.instance_id!r} is already registered under service {owner!r}, "
                f"cannot register it under {instance.service!r}"
            )
        entry = self._services.get(instance.service, {}).get(instance.instance_id)
        if entry is None:
            self._services.setdefault(instance.service, {})[instance.instance_id] = _Entry(instance, now)
            self._owner[instance.instance_id] = instance.service
            self._record(now, "register", instance.service, instance.instance_id)
            return
        entry.last_heartbeat = now
        if entry.instance != instance:
            entry.instance = instance
            self._record(now, "update", instance.service, instance.instance_id)

    def deregister(self, service: str, instance_id: str) -> Instance:
        """Remove an instance that is stopping gracefully and return it; unknown ids are a ``KeyError``."""
        now = self.clock()
        entry = self._entry(service, instance_id)
        self._remove(service, instance_id)
        self._record(now, "deregister", service, instance_id)
        return entry.instance

    def heartbeat(self, service: str, instance_id: str) -> None:
        """Renew the instance's TTL (its lease) from now. Not a visible change: ``index`` stays."""
        self._entry(service, instance_id).last_heartbeat = self.clock()

    def report(self, service: str, instance_id: str, health: Health | str, note: str = "") -> None:
        """Record a health-check result; a status different from the current one is a change.

        ``note`` is the check's output (``"HTTP 503"``, ``"timeout after 2s"``); it is kept for
        :meth:`note` but, unlike the status, does not move ``index``.
        """
        status = Health(health)
        now = self.clock()
        entry = self._entry(service, instance_id)
        entry.note = note
        if status is entry.health:
            return
        entry.health = status
        entry.critical_since = now if status is Health.CRITICAL else None
        self._record(now, "health", service, instance_id)

    def evict_expired(self) -> list[Instance]:
        """Sweep: remove instances past their TTL or CRITICAL too long, and return them.

        Returned in (service, instance_id) order. An instance that qualifies both ways is recorded as
        ``"expire"``.
        """
        now = self.clock()
        limit = math.inf if self.deregister_critical_after is None else self.deregister_critical_after
        evicted: list[tuple[str, _Entry]] = []
        for service in sorted(self._services):
            entries = self._services[service]
            for instance_id in sorted(entries):
                entry = entries[instance_id]
                if now - entry.last_heartbeat > self.ttl:
                    evicted.append(("expire", entry))
                elif entry.critical_since is not None and now - entry.critical_since > limit:
                    evicted.append(("evict_critical", entry))
        for kind, entry in evicted:
            self._remove(entry.instance.service, entry.instance.instance_id)
            self._record(now, kind, entry.instance.service, entry.instance.instance_id)
        return [entry.instance for _, entry in evicted]

    # -- reads (never change index) -------------------------------------------------------------

    def instances(self, service: str, *, include_critical: bool = False) -> list[Instance]:
        """The registered instances of ``service``, sorted by instance id; ``[]`` for an unknown service.

        CRITICAL instances are left out unless ``include_critical``. Instances past their TTL but not
        yet swept are still listed: that is the stale window between sweeps a real registry has.
        """
        entries = self._services.get(service, {})
        return [
            entries[i].instance
            for i in sorted(entries)
            if include_critical or entries[i].health is not Health.CRITICAL
        ]

    def health(self, service: str, instance_id: str) -> Health:
        """The last reported status of the instance (PASSING if nothing was reported yet)."""
        return self._entry(service, instance_id).health

    def note(self, service: str, instance_id: str) -> str:
        """The note that came with the last health report."""
        return self._entry(service, instance_id).note

    def expires_at(self, service: str, instance_id: str) -> float:
        """The last instant the instance counts as alive without another heartbeat (last heartbeat + ttl)."""
        return self._entry(service, instance_id).last_heartbeat + self.ttl

    def services(self) -> list[str]:
        """Names of the services with at least one registered instance (any health), sorted."""
        return sorted(self._services)

    # -- internals ------------------------------------------------------------------------------

    def _entry(self, service: str, instance_id: str) -> _Entry:
        entry = self._services.get(service, {}).get(instance_id)
        if entry is None:
            owner = self._owner.get(instance_id)
            where = f" (it is registered under service {owner!r})" if owner is not None else ""
            raise KeyError(f"no instance {instance_id!r} registered under service {service!r}{where}")
        return entry

    def _remove(self, service: str, instance_id: str) -> None:
        entries = self._services[service]
        del entries[instance_id]
        del self._owner[instance_id]
        if not entries:
            del self._services[service]

    def _record(self, now: float, kind: str, service: str, instance_id: str) -> None:
        self.index += 1
        self.changes.append(Change(now, kind, service, instance_id))


class DiscoveryCache:
    """Client-side discovery: a per-service copy of the registry's answer, refreshed lazily.

    ``instances(service)`` returns the cached list while its age is at most ``refresh_interval``
    seconds and calls ``fetch(service)`` (the registry lookup: in-process, HTTP, ...) only when the
    entry is absent or strictly older. Hence at most one fetch per ``refresh_interval`` per service,
    and an instance that leaves the registry at ``t`` keeps being returned until the entry fetched
    before ``t`` ages past ``refresh_interval``. That is the stale-cache window in which callers still
    send to dead instances; :meth:`invalidate` (e.g. after a connection refused) closes it early.

    If ``fetch`` raises, the error propagates and the old entry is left as it was, so the next call
    tries again.
    """

    def __init__(
        self,
        fetch: Callable[[str], Sequence[Instance]],
        clock: Clock,
        refresh_interval: float = 30.0,
    ) -> None:
        _check_seconds("refresh_interval", refresh_interval)
        self.fetch = fetch
        self.clock = clock
        self.refresh_interval = refresh_interval
        self.fetches = 0
        """Calls made to ``fetch`` (successful or not)."""
        self.hits = 0
        """Calls to :meth:`instances` answered from the cache."""
        self._entries: dict[str, tuple[float, tuple[Instance, ...]]] = {}

    def instances(self, service: str) -> list[Instance]:
        """The cached instances of ``service``, fetched first if the entry is absent or too old."""
        now = self.clock()
        entry = self._entries.get(service)
        if entry is not None and now - entry[0] <= self.refresh_interval:
            self.hits += 1
            return list(entry[1])
        self.fetches += 1
        found = tuple(self.fetch(service))
        self._entries[service] = (now, found)
        return list(found)

    def invalidate(self, service: str) -> None:
        """Forget the entry for ``service`` so the next lookup fetches; a no-op if there is none."""
        self._entries.pop(service, None)

    def age(self, service: str) -> float:
        """Seconds since ``service`` was last fetched; ``math.inf`` if it never was (or was invalidated)."""
        entry = self._entries.get(service)
        return math.inf if entry is None else self.clock() - entry[0]


class HealthCheck:
    """The state machine of one periodic health check (an HTTP or TCP probe), Consul-style.

    The driver asks :meth:`due` and, when it is, probes the instance, counts a probe that takes longer
    than ``timeout`` seconds as a failure (:meth:`timed_out`), and feeds the outcome to :meth:`record`,
    which returns the status to :meth:`Registry.report`.

    Statuses move on *consecutive* outcomes:

    * a failure while PASSING or WARNING gives WARNING (still routable: one bad probe is not an outage)
      until ``failures_to_critical`` failures in a row give CRITICAL; with ``failures_to_critical=1``
      the first failure goes straight to CRITICAL;
    * a success gives PASSING once ``successes_to_passing`` successes come in a row (Consul's
      ``success_before_passing``); until then a WARNING or CRITICAL status stays where it is;
    * a failure while CRITICAL keeps it CRITICAL and restarts the success count.

    Higher thresholds make the status steadier (no flapping on one slow probe) but slower to react;
    a shorter ``interval`` reacts sooner at the cost of more probes. The check starts at ``initial``
    (PASSING, matching a freshly registered instance) and is due immediately.
    """

    def __init__(
        self,
        interval: float,
        timeout: float,
        failures_to_critical: int = 3,
        successes_to_passing: int = 2,
        *,
        initial: Health = Health.PASSING,
    ) -> None:
        _check_seconds("interval", interval)
        _check_seconds("timeout", timeout)
        _check_count("failures_to_critical", failures_to_critical)
        _check_count("successes_to_passing", successes_to_passing)
        self.interval = interval
        self.timeout = timeout
        self.failures_to_critical = failures_to_critical
        self.successes_to_passing = successes_to_passing
        self.status = Health(initial)
        self.consecutive_failures = 0
        self.consecutive_successes = 0
        self.last_run: float | None = None

    def due(self, now: float) -> bool:
        """Whether a probe should run at ``now``: never run yet, or ``interval`` seconds since the last."""
        return self.last_run is None or now - self.last_run >= self.interval

    def next_due(self) -> float:
        """When the next probe is due (``-inf`` before the first run)."""
        return -math.inf if self.last_run is None else self.last_run + self.interval

    def timed_out(self, elapsed: float) -> bool:
        """Whether a probe that took ``elapsed`` seconds counts as failed for taking too long."""
        return elapsed > self.timeout

    def record(self, ok: bool, now: float) -> Health:
        """Take the outcome of the probe run at ``now`` and return the resulting status."""
        self.last_run = now
        if ok:
            self.consecutive_successes += 1
            self.consecutive_failures = 0
            if self.consecutive_successes >= self.successes_to_passing:
                self.status = Health.PASSING
        else:
            self.consecutive_failures += 1
            self.consecutive_successes = 0
            if self.consecutive_failures >= self.failures_to_critical:
                self.status = Health.CRITICAL
            elif self.status is not Health.CRITICAL:
                self.status = Health.WARNING
        return self.status
