"""Load balancing: which healthy instance gets the next request.

Every policy answers one question through one small interface, :class:`Policy`:

* ``pick(healthy, key=None)`` chooses one of the ``healthy`` instance ids (ints in the simulator,
  ``"host:port"`` strings live; any hashable works). ``key`` is a session/affinity key that only
  consistent hashing looks at. An empty ``healthy`` raises :class:`NoHealthyInstance`.
* ``started(instance)`` is called right after ``pick`` when the request is sent;
* ``finished(instance, latency, ok)`` once per ``started`` when its answer (or error) comes back,
  ``latency`` in seconds.

Policies that need load information (least outstanding, power of two choices, peak-EWMA, bounded-load
consistent hashing) learn it only through ``started``/``finished``, so the simulator and a live
gateway drive them identically. Time comes from an injected clock (see :mod:`patterns.clock`),
randomness from an injected :class:`random.Random`, so a seeded simulation is reproducible.

``pick``/``started``/``finished`` run on the simulator's hot path: each is O(1) or O(len(healthy))
with small constants, and per-instance state lives in plain dicts and ``__slots__`` objects.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import random
from abc import ABC, abstractmethod
from bisect import bisect_right
from collections.abc import Hashable, Mapping, Sequence
from numbers import Real

from patterns.clock import Clock

__all__ = [
    "POLICIES",
    "ConsistentHash",
    "LeastOutstanding",
    "NoHealthyInstance",
    "OutlierEjection",
    "PeakEwma",
    "Policy",
    "PowerOfTwoChoices",
    "RandomChoice",
    "RoundRobin",
    "WeightedRoundRobin",
    "make_policy",
]


class NoHealthyInstance(LookupError):  # noqa: N818 - the name the callers use
    """``pick`` was asked to choose from an empty set of healthy instances."""


def _no_instance() -> NoHealthyInstance:
    return NoHealthyInstance("no healthy instance to pick from")


def _check_number(name: str, value: object, *, low: float, inclusive: bool = True) -> float:
    """Return ``value`` as a float if it is a finite real >= ``low`` (> ``low`` when not inclusive)."""
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = value >= low if inclusive else value > low
    if not ok:
        relation = ">=" if inclusive else ">"
        raise ValueError(f"{name} must be a finite number {relation} {low}, got {name}={value!r}")
    return float(value)  # type: ignore[arg-type]


def _check_int(name: str, value: object, *, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {name}={value!r}")
    return value


class Policy(ABC):
    """Chooses one healthy instance per request; may learn from the requests it sent."""

    __slots__ = ()

    @abstractmethod
    def pick(self, healthy: Sequence[Hashable], key: Hashable | None = None) -> Hashable:
        """Return one member of ``healthy``; raise :class:`NoHealthyInstance` if it is empty."""

    def started(self, instance: Hashable) -> None:  # noqa: B027 - a deliberate no-op default
        """A request was sent to ``instance`` (called right after :meth:`pick`)."""

    def finished(self, instance: Hashable, latency: float, ok: bool) -> None:  # noqa: B027
        """The request sent to ``instance`` came back after ``latency`` seconds, successfully or not."""


class RoundRobin(Policy):
    """Hand requests to the healthy instances in turn.

    The oldest and simplest policy (DNS round robin, nginx's default): with a fixed healthy list,
    every window of ``len(healthy)`` consecutive picks hits each instance exactly once. It ignores
    load, so a slow instance receives as many requests as a fast one.
    """

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next = 0

    def pick(self, healthy: Sequence[Hashable], key: Hashable | None = None) -> Hashable:
        n = len(healthy)
        if not n:
            raise _no_instance()
        i = self._next % n
        self._next = i + 1
        return healthy[i]


class RandomChoice(Policy):
    """Pick a healthy instance uniformly at random, independently for each request.

    Stateless, so any number of balancers can share no information and still spread load evenly on
    average; but with n requests on n instances the busiest gets about ln n / ln ln n of them
    ("balls into bins"), which is what :class:`PowerOfTwoChoices` improves on.
    """

    __slots__ = ("_random",)

    def __init__(self, rng: random.Random | None = None) -> None:
        self._random = (rng or random.Random()).random

    def pick(self, healthy: Sequence[Hashable], key: Hashable | None = None) -> Hashable:
        n = len(healthy)
        if not n:
            raise _no_instance()
        return healthy[int(self._random() * n)]


class WeightedRoundRobin(Policy):
    """Smooth weighted round robin, as nginx does it (``ngx_http_upstream_get_peer``).

    Each instance carries a *current* weight. On every pick each healthy instance's current weight
    grows by its configured weight, the instance with the largest current weight wins (the first in
    ``healthy`` order on a tie) and its current weight drops by the total of the weights. With integer
    weights the sequence repeats every ``sum(weights)`` picks, so any window of that many picks gives
    each instance exactly its weight, and the picks of a heavy instance are spread out instead of
    coming in a burst: weights ``{a: 5, b: 1, c: 1}`` give ``a a b a c a a``, not ``a a a a a b c``.

    Instances missing from ``weights`` have weight 1. Weights must be finite and positive.
    """

    __slots__ = ("_current", "_weights")

    def __init__(self, weights: Mapping[Hashable, float]) -> None:
        checked: dict[Hashable, float] = {}
        for instance, weight in weights.items():
            valid = isinstance(weight, Real) and not isinstance(weight, bool) and math.isfinite(weight)
            if not (valid and weight > 0):
                raise ValueError(
                    f"weight of instance {instance!r} must be a finite number > 0, got {weight!r}"
                )
            checked[instance] = float(weight)
        self._weights = checked
        self._current: dict[Hashable, float] = {}

    def pick(self, healthy: Sequence[Hashable], key: Hashable | None = None) -> Hashable:
        if not healthy:
            raise _no_instance()
        weights, current = self._weights, self._current
        total = 0.0
        best: Hashable = None
        best_weight = -math.inf
        for instance in healthy:
            weight = weights.get(instance, 1.0)
            total += weight
            value = current.get(instance, 0.0) + weight
            current[instance] = value
            if value > best_weight:
                best, best_weight = instance, value
        current[best] = best_weight - total
        return best


class _TracksOutstanding(Policy):
    """Counts requests in flight per instance from ``started``/``finished``."""

    __slots__ = ("_inflight",)

    def __init__(self) -> None:
        self._inflight: dict[Hashable, int] = {}

    def outstanding(self, instance: Hashable) -> int:
        """Requests sent to ``instance`` whose answer has not come back yet."""
        return self._inflight.get(instance, 0)

    def started(self, instance: Hashable) -> None:
        inflight = self._inflight
        inflight[instance] = inflight.get(instance, 0) + 1

    def finished(self, instance: Hashable, latency: float, ok: bool) -> None:
        inflight = self._inflight
        count = inflight.get(instance, 0)
        if count > 1:
            inflight[instance] = count - 1
        elif count == 1:
            del inflight[instance]
        # count == 0: an unmatched finished() is ignored rather than driving the count negative.


class LeastOutstanding(_TracksOutstanding):
    """Send each request to the healthy instance with the fewest requests in flight.

    "Least connections" in nginx/HAProxy, ``LEAST_REQUEST`` with all hosts considered in Envoy. It
    reacts to a slow instance (its requests pile up) without measuring time, but it needs a full
    view of the load, and a fleet of balancers each doing this herd onto the same idle instance.
    Ties are broken uniformly at random so that equal instances share the load.
    """

    __slots__ = ("_random",)

    def __init__(self, rng: random.Random | None = None) -> None:
        super().__init__()
        self._random = (rng or random.Random()).random

    def pick(self, healthy: Sequence[Hashable], key: Hashable | None = None) -> Hashable:
        if not healthy:
            raise _no_instance()
        inflight = self._inflight
        fewest = math.inf
        ties: list[Hashable] = []
        for instance in healthy:
            count = inflight.get(instance, 0)
            if count < fewest:
                fewest, ties = count, [instance]
            elif count == fewest:
                ties.append(instance)
        return ties[0] if len(ties) == 1 else ties[int(self._random() * len(ties))]


class PowerOfTwoChoices(_TracksOutstanding):
    """Sample ``choices`` distinct healthy instances at random and take the least loaded of them.

    Mitzenmacher's "power of two choices" (also Azar, Broder, Karlin, Upfal 1994): placing n balls in
    n bins, one random bin per ball gives a fullest bin of about ln n / ln ln n, but the emptier of two
    random bins gives ln ln n / ln 2 + O(1): exponentially better, for one extra look. Envoy's
    ``LEAST_REQUEST`` and Finagle's balancers use it because it needs only two load readings per
    request and, being random, does not make many balancers herd onto one instance. Load is the number
    of requests in flight; on a tie the first sampled instance (itself random) wins. ``choices=1`` is
    plain random choice; ``choices >= len(healthy)`` is least-outstanding over everybody.
    """

    __slots__ = ("_choices", "_random", "_rng")

    def __init__(self, rng: random.Random | None = None, choices: int = 2) -> None:
        super().__init__()
        self._choices = _check_int("choices", choices, low=1)
        self._rng = rng or random.Random()
        self._random = self._rng.random

    def pick(self, healthy: Sequence[Hashable], key: Hashable | None = None) -> Hashable:
        n = len(healthy)
        if n < 2:
            if n:
                return healthy[0]
            raise _no_instance()
        choices, inflight = self._choices, self._inflight
        if choices == 2:  # the common case, without random.sample's overhead
            rand = self._random
            i = int(rand() * n)
            j = int(rand() * (n - 1))
            if j >= i:  # j is uniform over the n - 1 indices other than i
                j += 1
            first, second = healthy[i], healthy[j]
            return second if inflight.get(second, 0) < inflight.get(first, 0) else first
        if choices == 1:
            return healthy[int(self._random() * n)]
        sample = self._rng.sample(healthy, min(choices, n))
        return min(sample, key=lambda instance: inflight.get(instance, 0))


class _EwmaStats:
    """Per-instance state of :class:`PeakEwma`."""

    __slots__ = ("ewma", "inflight", "stamp")

    def __init__(self, ewma: float) -> None:
        self.ewma = ewma  # seconds; the prior default_latency until the first observation
        self.inflight = 0
        # Clock time up to which ``ewma`` is current: the last observation or the last decay on read;
        # None while the instance has never been observed (the prior is not decayed).
        self.stamp: float | None = None


class PeakEwma(Policy):
    """Peak-EWMA latency times load, compared between two random instances (Finagle, Linkerd).

    Per instance the balancer keeps an exponentially weighted moving average of observed latencies,
    weighted by elapsed time rather than by count (the observations are an unevenly spaced series): an
    observation ``x`` made ``dt`` seconds after the estimate was last brought up to date moves it to
    ``ewma * w + x * (1 - w)`` with ``w = exp(-dt / decay)``, so ``decay`` is the time constant in
    seconds. It is *peak* sensitive: an observation above the stored estimate replaces it at once, so
    one slow answer makes an instance look slow immediately, while recovering takes a few time
    constants of fast answers.

    The estimate also decays towards zero when it is *read*. Whenever :meth:`pick` prices one of its
    two sampled instances, that instance's estimate is first brought up to date as if a latency of 0
    had been observed - multiplied by ``exp(-dt / decay)``, ``dt`` being the time since it was last
    brought up to date - and its timestamp moves to now. An instance that was slow once and is then
    never chosen therefore gets cheaper by a factor of e every ``decay`` seconds until it wins a
    comparison and can show whether it has recovered; without this, at low load its partner would win
    every comparison forever. Since reads move the timestamp, the weight of a later answer depends on
    the time since the instance was last read or observed, and a peak is judged against the estimate
    as last stored - both exactly as in the sources below. (An elapsed time of 0, as when several picks
    happen at one simulated instant, costs no ``exp``.) :meth:`latency_estimate` and :meth:`cost` show
    the decayed values as of now without recording them.

    The cost of an instance is ``ewma * (outstanding + 1)`` (the latency it will likely give, scaled by
    the queue it already has); each pick samples two distinct instances at random and takes the
    cheaper one; on equal cost, fewer outstanding wins. Instances never observed cost
    ``default_latency * (outstanding + 1)``, undecayed; their first observation replaces the default.

    Sources: Finagle's ``com.twitter.finagle.loadbalancer.PeakEwma`` (its ``Metric``: ``observe(rtt)``
    is the peak/decay update and moves the stamp, ``get()`` calls ``observe(0.0)`` before returning
    ``cost * (pending + 1)``; ``P2CPeakEwma`` compares the ``load`` of two random nodes) and tower's
    ``tower::load::peak_ewma`` (``RttEstimate::update``, and ``RttEstimate::decay`` - an update with a
    zero RTT - called from ``Load::load``), which Linkerd's proxy balances with. Two differences remain:
    tower decays its default RTT from the moment an endpoint is discovered, while this policy has no
    discovery event and keeps ``default_latency`` until the first observation; and Finagle, which
    starts every estimate at 0, prices an instance whose estimate is 0 but which has requests in flight
    at a huge penalty, while here a zero cost simply wins (fewer outstanding breaking the tie).

    Failed requests count like any other: a fast failure makes an instance look cheap, so pair this
    with :class:`OutlierEjection`.
    """

    __slots__ = ("_clock", "_decay", "_default", "_random", "_stats")

    def __init__(
        self,
        clock: Clock,
        decay: float = 10.0,
        default_latency: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        self._clock = clock
        self._decay = _check_number("decay", decay, low=0.0, inclusive=False)
        self._default = _check_number("default_latency", default_latency, low=0.0)
        self._random = (rng or random.Random()).random
        self._stats: dict[Hashable, _EwmaStats] = {}

    def latency_estimate(self, instance: Hashable) -> float:
        """The peak-EWMA latency of ``instance`` in seconds as of now (``default_latency`` if unobserved).

        Includes the decay since the estimate was last brought up to date, without recording it.
        """
        stats = self._stats.get(instance)
        if stats is None:
            return self._default
        stamp = stats.stamp
        if stamp is None:
            return stats.ewma
        now = self._clock()
        return stats.ewma * math.exp((stamp - now) / self._decay) if now > stamp else stats.ewma

    def cost(self, instance: Hashable) -> float:
        """What :meth:`pick` would price ``instance`` at now: ``latency_estimate * (outstanding + 1)``."""
        return self.latency_estimate(instance) * (self.outstanding(instance) + 1)

    def outstanding(self, instance: Hashable) -> int:
        """Requests sent to ``instance`` whose answer has not come back yet."""
        stats = self._stats.get(instance)
        return 0 if stats is None else stats.inflight

    def pick(self, healthy: Sequence[Hashable], key: Hashable | None = None) -> Hashable:
        n = len(healthy)
        if n < 2:
            if n:
                return healthy[0]
            raise _no_instance()
        rand = self._random
        i = int(rand() * n)
        j = int(rand() * (n - 1))
        if j >= i:
            j += 1
        first, second = healthy[i], healthy[j]
        now = self._clock()
        load1, cost1 = self._price(first, now)
        load2, cost2 = self._price(second, now)
        if cost2 < cost1 or (cost2 == cost1 and load2 < load1):
            return second
        return first

    def _price(self, instance: Hashable, now: float) -> tuple[int, float]:
        """(outstanding, cost) of ``instance`` at ``now``, decaying its stored estimate first.

        Reading an estimate decays it as an observation of 0 would (Finagle's ``observe(0.0)``).
        """
        stats = self._stats.get(instance)
        if stats is None:
            return 0, self._default
        stamp = stats.stamp
        if stamp is not None and now > stamp:
            stats.ewma *= math.exp((stamp - now) / self._decay)
            stats.stamp = now
        return stats.inflight, stats.ewma * (stats.inflight + 1)

    def started(self, instance: Hashable) -> None:
        stats = self._stats.get(instance)
        if stats is None:
            stats = self._stats[instance] = _EwmaStats(self._default)
        stats.inflight += 1

    def finished(self, instance: Hashable, latency: float, ok: bool) -> None:
        if not latency >= 0:  # also rejects NaN
            raise ValueError(f"latency must be >= 0 seconds, got latency={latency!r} for {instance!r}")
        stats = self._stats.get(instance)
        if stats is None:
            stats = self._stats[instance] = _EwmaStats(self._default)
        if stats.inflight:
            stats.inflight -= 1
        now = self._clock()
        if stats.stamp is None or latency > stats.ewma:  # a peak (against the stored estimate)
            stats.ewma = latency
        else:
            elapsed = now - stats.stamp
            if elapsed > 0:  # elapsed == 0: weight 1, nothing moves and no exp is needed
                weight = math.exp(-elapsed / self._decay)
                stats.ewma = stats.ewma * weight + latency * (1.0 - weight)
        stats.stamp = now


def _ring_hash(value: object) -> int:
    """A 64-bit position on the ring, stable across processes (unlike the salted built-in hash())."""
    return int.from_bytes(hashlib.blake2b(repr(value).encode(), digest_size=8).digest(), "big")


def _build_ring(members: frozenset[Hashable], replicas: int) -> tuple[list[int], list[Hashable], int]:
    """Sorted virtual-node positions, the instance owning each, and the number of instances."""
    points = sorted(
        (_ring_hash(label), label, instance)
        for instance in members
        for label in (f"{instance!r}#{replica}" for replica in range(replicas))
    )
    return [point[0] for point in points], [point[2] for point in points], len(members)


class ConsistentHash(_TracksOutstanding):
    """A hash ring with virtual nodes, optionally with bounded loads.

    Consistent hashing (Karger et al. 1997; ``ring_hash`` in Envoy, ``hash ... consistent`` in nginx):
    every instance is placed on a ring of 2**64 positions at ``replicas_per_instance`` pseudo-random
    points (blake2b of its ``repr``, so the ring is the same in every process), and a key goes to the
    owner of the first point clockwise from the key's own hash. The same key keeps reaching the same
    instance, and when an instance joins a ring of n, only the keys that now fall on its points move -
    about 1/(n + 1) of them, all to the newcomer; when one leaves, only its keys move. More virtual
    nodes give each instance a share of the ring closer to 1/n (relative spread about
    1/sqrt(replicas_per_instance)).

    With ``load_factor`` c set this is "consistent hashing with bounded loads" (Mirrokni, Thorup,
    Zadimoghaddam 2018; HAProxy's ``hash-balance-factor``, Envoy's ``hash_balance_factor``): with m
    requests in flight through this balancer and n healthy instances, an instance may hold at most
    ``ceil(c * (m + 1) / n)`` of them, and a key whose owner is full walks on clockwise to the first
    instance below that bound. Such an instance always exists, so a pick never fails, and a hot key
    can no longer overload its owner; keys stay put while loads allow.

    The ring is rebuilt only when the set of healthy instances changes (cached by frozenset; the
    order of ``healthy`` does not matter). ``key=None`` falls back to round robin.
    """

    __slots__ = (
        "_last_listed",
        "_last_ring",
        "_load_factor",
        "_next",
        "_positions",
        "_replicas",
        "_rings",
        "_total",
    )

    _MAX_CACHED_RINGS = 16
    _MAX_CACHED_KEYS = 65_536  # ring positions of recent str/int keys: hashing costs more than the rest

    def __init__(self, replicas_per_instance: int = 100, load_factor: float | None = 1.25) -> None:
        super().__init__()
        self._replicas = _check_int("replicas_per_instance", replicas_per_instance, low=1)
        if load_factor is not None:
            load_factor = _check_number("load_factor", load_factor, low=1.0, inclusive=False)
        self._load_factor = load_factor
        self._rings: dict[frozenset[Hashable], tuple[list[int], list[Hashable], int]] = {}
        self._next = 0
        self._total = 0  # requests in flight through this balancer, over all instances
        self._positions: dict[Hashable, int] = {}
        self._last_listed: tuple[Hashable, ...] | None = None
        self._last_ring: tuple[list[int], list[Hashable], int] = ([], [], 0)

    def pick(self, healthy: Sequence[Hashable], key: Hashable | None = None) -> Hashable:
        if not healthy:
            raise _no_instance()
        if key is None:
            i = self._next % len(healthy)
            self._next = i + 1
            return healthy[i]
        listed = tuple(healthy)
        if listed == self._last_listed:  # the usual case: the same healthy list as last time
            ring = self._last_ring
        else:
            members = frozenset(listed)
            ring = self._rings.get(members)
            if ring is None:
                if len(self._rings) >= self._MAX_CACHED_RINGS:
                    del self._rings[next(iter(self._rings))]  # forget the oldest healthy set
                ring = self._rings[members] = _build_ring(members, self._replicas)
            self._last_listed, self._last_ring = listed, ring
        kind = type(key)
        if kind is str or kind is int:  # equal keys of these types have equal reprs, so may share an entry
            position = self._positions.get(key)
            if position is None:
                if len(self._positions) >= self._MAX_CACHED_KEYS:
                    self._positions.clear()
                position = self._positions[key] = _ring_hash(key)
        else:
            position = _ring_hash(key)
        positions, owners, n = ring
        start = bisect_right(positions, position)
        points = len(positions)
        if start == points:
            start = 0
        if self._load_factor is None:
            return owners[start]
        bound = math.ceil(self._load_factor * (self._total + 1) / n)
        inflight = self._inflight
        for step in range(points):
            instance = owners[(start + step) % points]
            if inflight.get(instance, 0) < bound:
                return instance
        # n instances all at >= bound would hold more than the m requests in flight.
        raise AssertionError("unreachable: every instance is at the load bound")

    def started(self, instance: Hashable) -> None:
        inflight = self._inflight
        inflight[instance] = inflight.get(instance, 0) + 1
        self._total += 1

    def finished(self, instance: Hashable, latency: float, ok: bool) -> None:
        inflight = self._inflight
        count = inflight.get(instance, 0)
        if count:
            self._total -= 1
            if count > 1:
                inflight[instance] = count - 1
            else:
                del inflight[instance]


class OutlierEjection(Policy):
    """Take instances that keep failing out of rotation for a while (Envoy's outlier detection).

    Wraps another policy. After ``consecutive_errors`` failed answers in a row from an instance (any
    success resets the count) it is ejected for ``base_ejection * k`` seconds, k being the number of
    times it has been ejected so far, this one included: 30 s the first time, 60 s the second, ...
    (Envoy's ``consecutive_5xx`` with ``base_ejection_time``). Failures reported while an instance is
    already ejected neither extend its ejection nor count towards the next one.

    ``pick`` hands the wrapped policy the healthy instances minus the ejected ones, but never leaves out
    more than ``floor(max_ejected_fraction * len(healthy))`` of them (Envoy's
    ``max_ejection_percent``): when more are ejected, the most recently ejected stay out and the
    others are let back in. So with a fraction below 1 there is always an instance to pick; with 1, all
    may be out and ``pick`` raises :class:`NoHealthyInstance`. (Envoy applies its cap when ejecting;
    here it applies when picking, the only moment the healthy set is known. Envoy also caps the
    ejection time and lowers k after healthy periods; here k only grows.) ``started`` and ``finished``
    are forwarded to the wrapped policy.
    """

    __slots__ = (
        "_base",
        "_clock",
        "_ejected",
        "_failures",
        "_fraction",
        "_limit",
        "_policy",
        "_times_ejected",
    )

    def __init__(
        self,
        policy: Policy,
        clock: Clock,
        consecutive_errors: int = 5,
        base_ejection: float = 30.0,
        max_ejected_fraction: float = 0.5,
    ) -> None:
        if not isinstance(policy, Policy):
            raise TypeError(f"OutlierEjection wraps a Policy, got {policy!r}")
        self._policy = policy
        self._clock = clock
        self._limit = _check_int("consecutive_errors", consecutive_errors, low=1)
        self._base = _check_number("base_ejection", base_ejection, low=0.0)
        fraction = max_ejected_fraction
        if not (isinstance(fraction, Real) and not isinstance(fraction, bool) and 0 <= fraction <= 1):
            raise ValueError(
                f"max_ejected_fraction must be within [0, 1], got max_ejected_fraction={fraction!r}"
            )
        self._fraction = float(fraction)
        self._failures: dict[Hashable, int] = {}  # consecutive failures, per instance
        self._times_ejected: dict[Hashable, int] = {}
        self._ejected: dict[Hashable, tuple[float, float]] = {}  # instance -> (ejected at, until)

    @property
    def policy(self) -> Policy:
        """The wrapped policy."""
        return self._policy

    def _expire(self, now: float) -> None:
        ejected = self._ejected
        for instance in [i for i, (_, until) in ejected.items() if until <= now]:
            del ejected[instance]

    def ejected(self, now: float | None = None) -> frozenset[Hashable]:
        """Instances under ejection at ``now`` (default: the clock's time), before the fraction cap."""
        if now is None:
            now = self._clock()
        return frozenset(i for i, (_, until) in self._ejected.items() if until > now)

    def pick(self, healthy: Sequence[Hashable], key: Hashable | None = None) -> Hashable:
        ejected = self._ejected
        if not ejected:
            return self._policy.pick(healthy, key)
        self._expire(self._clock())
        out = [instance for instance in healthy if instance in ejected]
        if not out:
            return self._policy.pick(healthy, key)
        allowed = math.floor(self._fraction * len(healthy))
        if len(out) > allowed:
            out.sort(key=lambda instance: ejected[instance][0], reverse=True)
            out = out[:allowed]  # the most recently ejected stay out
        excluded = set(out)
        return self._policy.pick([instance for instance in healthy if instance not in excluded], key)

    def started(self, instance: Hashable) -> None:
        self._policy.started(instance)

    def finished(self, instance: Hashable, latency: float, ok: bool) -> None:
        self._policy.finished(instance, latency, ok)
        failures = self._failures
        if ok:
            if instance in failures:
                del failures[instance]
            return
        current = self._ejected.get(instance)
        if current is not None and current[1] > self._clock():
            return  # answers still arriving from an ejected instance do not count against its return
        count = failures.get(instance, 0) + 1
        if count < self._limit:
            failures[instance] = count
            return
        now = self._clock()
        failures.pop(instance, None)
        times = self._times_ejected.get(instance, 0) + 1
        self._times_ejected[instance] = times
        self._ejected[instance] = (now, now + self._base * times)


_FACTORY: dict[str, type[Policy]] = {
    "round_robin": RoundRobin,
    "random": RandomChoice,
    "weighted_round_robin": WeightedRoundRobin,
    "least_outstanding": LeastOutstanding,
    "p2c": PowerOfTwoChoices,
    "peak_ewma": PeakEwma,
    "consistent_hash": ConsistentHash,
}

POLICIES: tuple[str, ...] = tuple(_FACTORY)
"""The names :func:`make_policy` accepts."""


def make_policy(
    name: str,
    *,
    rng: random.Random | None = None,
    clock: Clock | None = None,
    **options: object,
) -> Policy:
    """Build the policy called ``name`` (one of :data:`POLICIES`) with its ``options``.

    ``rng`` and ``clock`` are handed to the policies that take them and ignored by the others, so a
    scenario can pass both to whatever policy it names. Unknown names and options raise ValueError.
    """
    cls = _FACTORY.get(name)
    if cls is None:
        raise ValueError(f"unknown load balancing policy {name!r}; known policies: {', '.join(POLICIES)}")
    parameters = inspect.signature(cls).parameters
    accepted = [p for p in parameters if p not in ("rng", "clock")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"policy {name!r} got unknown option(s) {', '.join(unknown)}; "
            f"it accepts: {', '.join(accepted) or 'no options'}"
        )
    missing = [p for p in accepted if parameters[p].default is inspect.Parameter.empty and p not in options]
    if missing:
        raise ValueError(f"policy {name!r} needs option(s) {', '.join(missing)}")
    arguments = dict(options)
    if "rng" in parameters:
        arguments["rng"] = rng
    if "clock" in parameters:
        if clock is None:
            raise ValueError(f"policy {name!r} needs a clock, got clock=None")
        arguments["clock"] = clock
    return cls(**arguments)  # type: ignore[arg-type]
