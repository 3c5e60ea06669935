"""Tests for the service registry, discovery cache and health-check state machine.

Time convention under test (see ``patterns.registry``): deadlines are strict. An instance last heard
from at ``h`` is still alive at exactly ``h + ttl`` and evicted by any sweep after that; a cache entry
fetched at ``f`` is served up to and including ``f + refresh_interval``; a health check is due again at
exactly ``last_run + interval``.
"""

from __future__ import annotations

import itertools
import math
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patterns.clock import ManualClock
from patterns.registry import Change, DiscoveryCache, Health, HealthCheck, Instance, Registry


def just_after(t: float) -> float:
    """The smallest float greater than ``t``: the first instant past a strict deadline."""
    return math.nextafter(t, math.inf)


def inst(instance_id: str, service: str = "orders", address: str | None = None, **metadata: str) -> Instance:
    return Instance(service, instance_id, address or f"10.0.0.{instance_id[-1]}:8080", metadata)


def ids(instances: list[Instance]) -> list[str]:
    return [i.instance_id for i in instances]


# -- Instance ---------------------------------------------------------------------------------------


def test_instance_metadata_is_a_read_only_copy_and_instances_hash():
    source = {"zone": "a"}
    instance = Instance("orders", "o1", "10.0.0.1:80", source)
    source["zone"] = "b"
    assert instance.metadata == {"zone": "a"}
    with pytest.raises(TypeError):
        instance.metadata["zone"] = "c"  # type: ignore[index]
    assert Instance("orders", "o1", "10.0.0.1:80").metadata == {}
    assert instance == Instance("orders", "o1", "10.0.0.1:80", {"zone": "a"})
    assert instance != Instance("orders", "o1", "10.0.0.1:80", {"zone": "b"})
    assert len({instance, Instance("orders", "o1", "10.0.0.1:80", MappingProxyType({"zone": "a"}))}) == 1


@pytest.mark.parametrize(
    ("service", "instance_id", "named"), [("", "o1", "service"), ("orders", "", "instance_id")]
)
def test_instance_needs_non_empty_names(service, instance_id, named):
    with pytest.raises(ValueError, match=f"{named}=''"):
        Instance(service, instance_id, "10.0.0.1:80")


# -- Registry lifecycle -----------------------------------------------------------------------------


def test_register_heartbeat_deregister_lifecycle():
    clock = ManualClock()
    registry = Registry(clock, ttl=10)
    assert registry.services() == []
    assert registry.instances("orders") == []

    registry.register(inst("o2"))
    registry.register(inst("o1"))
    registry.register(inst("u1", service="users"))
    assert ids(registry.instances("orders")) == ["o1", "o2"]  # sorted by id, not by arrival
    assert registry.services() == ["orders", "users"]
    assert registry.health("orders", "o1") is Health.PASSING

    clock.advance(4)
    registry.heartbeat("orders", "o1")
    assert registry.expires_at("orders", "o1") == 14
    assert registry.expires_at("orders", "o2") == 10

    assert registry.deregister("orders", "o1") == inst("o1")
    assert ids(registry.instances("orders")) == ["o2"]
    registry.deregister("users", "u1")
    assert registry.services() == ["orders"]  # a service with no instances disappears
    with pytest.raises(KeyError, match=r"'o1'.*'orders'"):
        registry.deregister("orders", "o1")
    assert [c.kind for c in registry.changes] == [
        "register",
        "register",
        "register",
        "deregister",
        "deregister",
    ]
    assert registry.changes[-1] == Change(4, "deregister", "users", "u1")


def test_reregister_is_idempotent_renews_the_ttl_and_updates_address_and_metadata():
    clock = ManualClock()
    registry = Registry(clock, ttl=10)
    registry.register(inst("o1"))
    registry.report("orders", "o1", Health.WARNING)
    index = registry.index

    clock.advance(8)
    registry.register(inst("o1"))
    assert registry.index == index  # nothing a reader could see changed
    assert registry.expires_at("orders", "o1") == 18

    clock.advance(1)
    moved = inst("o1", address="10.9.9.9:8080", version="2")
    registry.register(moved)
    assert registry.index == index + 1
    assert registry.changes[-1] == Change(9, "update", "orders", "o1")
    assert registry.instances("orders") == [moved]
    assert registry.instances("orders")[0].metadata == {"version": "2"}
    assert registry.health("orders", "o1") is Health.WARNING  # health belongs to the checks, not to register


def test_an_instance_id_cannot_move_to_another_service():
    registry = Registry(ManualClock())
    registry.register(inst("x1", service="orders"))
    index = registry.index
    with pytest.raises(ValueError, match=r"'x1'.*'orders'.*'users'"):
        registry.register(inst("x1", service="users"))
    assert registry.services() == ["orders"]
    assert registry.index == index


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.heartbeat("orders", "nope"),
        lambda r: r.deregister("orders", "nope"),
        lambda r: r.report("orders", "nope", Health.CRITICAL),
        lambda r: r.health("orders", "nope"),
        lambda r: r.expires_at("orders", "nope"),
        lambda r: r.heartbeat("billing", "nope"),
    ],
)
def test_unknown_instances_are_key_errors_naming_the_id(call):
    registry = Registry(ManualClock())
    registry.register(inst("o1"))
    with pytest.raises(KeyError, match="'nope'"):
        call(registry)


def test_wrong_service_key_error_says_where_the_id_lives():
    registry = Registry(ManualClock())
    registry.register(inst("o1", service="orders"))
    with pytest.raises(
        KeyError, match=r"'o1' registered under service 'users' \(it is registered under .*'orders'"
    ):
        registry.heartbeat("users", "o1")


# -- TTL eviction -----------------------------------------------------------------------------------


def test_ttl_boundary_alive_at_exactly_ttl_evicted_just_after():
    clock = ManualClock(100.0)
    registry = Registry(clock, ttl=10.0)
    registry.register(inst("o1"))
    clock.now = 110.0
    assert registry.evict_expired() == []
    assert ids(registry.instances("orders")) == ["o1"]
    clock.now = just_after(110.0)
    assert registry.evict_expired() == [inst("o1")]
    assert registry.instances("orders") == []
    assert registry.changes[-1] == Change(just_after(110.0), "expire", "orders", "o1")
    with pytest.raises(KeyError):
        registry.heartbeat("orders", "o1")  # too late: the instance must register again


def test_expired_instances_stay_listed_until_a_sweep():
    clock = ManualClock()
    registry = Registry(clock, ttl=5)
    registry.register(inst("o1"))
    clock.advance(60)
    assert ids(registry.instances("orders")) == ["o1"]  # the stale window between sweeps
    registry.heartbeat("orders", "o1")  # a paused-but-alive instance that comes back in time is kept
    assert registry.evict_expired() == []
    assert ids(registry.instances("orders")) == ["o1"]


@given(ttl=st.floats(0.1, 100), fractions=st.lists(st.floats(0, 0.99), min_size=1, max_size=200))
def test_heartbeats_within_the_ttl_keep_an_instance_alive_indefinitely(ttl, fractions):
    clock = ManualClock()
    registry = Registry(clock, ttl=ttl)
    registry.register(inst("o1"))
    registry.register(inst("o2"))  # never heartbeats
    for fraction in fractions:
        clock.advance(fraction * ttl)
        evicted = registry.evict_expired()
        assert inst("o1") not in evicted
        registry.heartbeat("orders", "o1")
    assert ids(registry.instances("orders"))[0] == "o1"
    clock.advance(ttl * 1.01)
    assert inst("o1") in registry.evict_expired()
    assert registry.instances("orders") == []  # and o2 is gone by now as well


def test_evict_returns_in_service_then_id_order_and_records_each():
    clock = ManualClock()
    registry = Registry(clock, ttl=1)
    for instance in [inst("b2", "users"), inst("a1"), inst("b1", "users"), inst("a2")]:
        registry.register(instance)
    clock.advance(2)
    index = registry.index
    evicted = registry.evict_expired()
    assert [(i.service, i.instance_id) for i in evicted] == [
        ("orders", "a1"),
        ("orders", "a2"),
        ("users", "b1"),
        ("users", "b2"),
    ]
    assert registry.index == index + 4
    assert [c.kind for c in list(registry.changes)[-4:]] == ["expire"] * 4
    assert registry.services() == []


# -- health -----------------------------------------------------------------------------------------


def test_critical_instances_are_not_discovered_by_default():
    registry = Registry(ManualClock())
    for i in ("o1", "o2", "o3"):
        registry.register(inst(i))
    registry.report("orders", "o1", Health.CRITICAL, "HTTP 503")
    registry.report("orders", "o2", "warning")
    assert ids(registry.instances("orders")) == ["o2", "o3"]  # WARNING is still routable
    assert ids(registry.instances("orders", include_critical=True)) == ["o1", "o2", "o3"]
    assert registry.health("orders", "o1") is Health.CRITICAL
    assert registry.health("orders", "o2") is Health.WARNING
    assert registry.note("orders", "o1") == "HTTP 503"
    assert [h.routable for h in Health] == [True, True, False]
    registry.report("orders", "o1", Health.PASSING)
    assert ids(registry.instances("orders")) == ["o1", "o2", "o3"]


def test_a_service_whose_instances_are_all_critical_is_still_a_service():
    registry = Registry(ManualClock())
    registry.register(inst("o1"))
    registry.report("orders", "o1", Health.CRITICAL)
    assert registry.services() == ["orders"]
    assert registry.instances("orders") == []


def test_report_rejects_unknown_statuses():
    registry = Registry(ManualClock())
    registry.register(inst("o1"))
    with pytest.raises(ValueError, match="'dead'"):
        registry.report("orders", "o1", "dead")


def test_deregister_critical_after_evicts_instances_critical_for_too_long():
    clock = ManualClock()
    registry = Registry(clock, ttl=1000, deregister_critical_after=20)
    registry.register(inst("o1"))
    registry.register(inst("o2"))
    clock.now = 5
    registry.report("orders", "o1", Health.CRITICAL)
    registry.report("orders", "o2", Health.CRITICAL)
    clock.now = 15
    registry.report("orders", "o1", Health.CRITICAL)  # still critical: the clock does not restart
    registry.report("orders", "o2", Health.WARNING)  # recovered a bit: o2 is off the hook
    clock.now = 20
    registry.report("orders", "o2", Health.CRITICAL)  # critical again, counting from 20
    clock.now = 25
    registry.heartbeat("orders", "o1")  # alive is not healthy: heartbeats do not save it
    assert registry.evict_expired() == []
    clock.now = just_after(25)
    assert registry.evict_expired() == [inst("o1")]
    assert registry.changes[-1] == Change(just_after(25), "evict_critical", "orders", "o1")
    clock.now = 40
    assert registry.evict_expired() == []
    clock.now = just_after(40)
    assert registry.evict_expired() == [inst("o2")]


def test_recovering_from_critical_clears_the_deregister_critical_after_deadline():
    clock = ManualClock()
    registry = Registry(clock, ttl=1000, deregister_critical_after=20)
    registry.register(inst("o1"))
    registry.report("orders", "o1", Health.CRITICAL)
    clock.now = 10
    registry.report("orders", "o1", Health.PASSING)
    clock.now = 15
    registry.report("orders", "o1", Health.WARNING)
    clock.now = 100
    assert registry.evict_expired() == []
    assert ids(registry.instances("orders")) == ["o1"]


def test_without_deregister_critical_after_critical_instances_stay_registered():
    clock = ManualClock()
    registry = Registry(clock, ttl=10)
    registry.register(inst("o1"))
    registry.report("orders", "o1", Health.CRITICAL)
    for _ in range(100):
        clock.advance(5)
        registry.heartbeat("orders", "o1")
        assert registry.evict_expired() == []
    assert registry.health("orders", "o1") is Health.CRITICAL


def test_an_instance_both_expired_and_critical_is_evicted_once_as_expired():
    clock = ManualClock()
    registry = Registry(clock, ttl=10, deregister_critical_after=1)
    registry.register(inst("o1"))
    registry.report("orders", "o1", Health.CRITICAL)
    clock.advance(11)
    index = registry.index
    assert registry.evict_expired() == [inst("o1")]
    assert registry.index == index + 1
    assert registry.changes[-1].kind == "expire"


# -- index and change history -----------------------------------------------------------------------


def test_index_moves_on_changes_only():
    clock = ManualClock()
    registry = Registry(clock, ttl=10)
    seen = [registry.index]

    def changed() -> None:
        assert registry.index > seen[-1]
        seen.append(registry.index)

    def unchanged() -> None:
        assert registry.index == seen[-1]

    registry.register(inst("o1"))
    changed()
    registry.instances("orders")
    registry.instances("orders", include_critical=True)
    registry.services()
    registry.health("orders", "o1")
    registry.heartbeat("orders", "o1")
    registry.register(inst("o1"))
    registry.report("orders", "o1", Health.PASSING, "fine")
    registry.evict_expired()
    unchanged()
    registry.report("orders", "o1", Health.WARNING)
    changed()
    registry.register(inst("o1", address="10.1.1.1:1"))
    changed()
    registry.register(inst("o2"))
    changed()
    registry.deregister("orders", "o2")
    changed()
    clock.advance(11)
    registry.evict_expired()
    changed()
    assert registry.index == len(registry.changes) == 6


def test_change_history_is_bounded():
    registry = Registry(ManualClock(), history=3)
    for i in range(5):
        registry.register(inst(f"o{i}"))
    assert registry.index == 5
    assert [c.instance_id for c in registry.changes] == ["o2", "o3", "o4"]


# -- model-based: random operation sequences against a dict reference --------------------------------

SERVICES = ["orders", "users"]
IDS = ["i0", "i1", "i2", "i3"]
TTL, CRITICAL_AFTER = 10.0, 15.0

operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("register"), st.sampled_from(SERVICES), st.sampled_from(IDS), st.sampled_from("ab")
        ),
        st.tuples(st.just("heartbeat"), st.sampled_from(SERVICES), st.sampled_from(IDS)),
        st.tuples(st.just("deregister"), st.sampled_from(SERVICES), st.sampled_from(IDS)),
        st.tuples(
            st.just("report"), st.sampled_from(SERVICES), st.sampled_from(IDS), st.sampled_from(Health)
        ),
        st.tuples(st.just("advance"), st.sampled_from([0.0, 0.5, 1.0, 4.0, 5.0, 10.0, 15.0])),
        st.tuples(st.just("evict")),
    ),
    max_size=80,
)


@given(ops=operations)
def test_registry_matches_a_dict_reference_model(ops):
    clock = ManualClock()
    registry = Registry(clock, ttl=TTL, deregister_critical_after=CRITICAL_AFTER)
    # reference: instance_id -> [service, address, last_heartbeat, health, critical_since]
    ref: dict[str, list] = {}
    expected_index = 0

    def known(service: str, instance_id: str) -> bool:
        return instance_id in ref and ref[instance_id][0] == service

    for op in ops:
        kind, args = op[0], op[1:]
        now = clock.now
        if kind == "register":
            service, instance_id, address = args
            instance = Instance(service, instance_id, address)
            if instance_id in ref and ref[instance_id][0] != service:
                with pytest.raises(ValueError, match=instance_id):
                    registry.register(instance)
            elif instance_id in ref:
                registry.register(instance)
                expected_index += ref[instance_id][1] != address
                ref[instance_id][1:3] = [address, now]
            else:
                registry.register(instance)
                expected_index += 1
                ref[instance_id] = [service, address, now, Health.PASSING, None]
        elif kind in ("heartbeat", "deregister", "report"):
            service, instance_id = args[:2]
            method = getattr(registry, kind)
            if not known(service, instance_id):
                with pytest.raises(KeyError, match=instance_id):
                    method(*args)
            elif kind == "heartbeat":
                method(*args)
                ref[instance_id][2] = now
            elif kind == "deregister":
                method(*args)
                expected_index += 1
                del ref[instance_id]
            else:
                method(*args)
                health = args[2]
                if health is not ref[instance_id][3]:
                    expected_index += 1
                    ref[instance_id][3:5] = [health, now if health is Health.CRITICAL else None]
        elif kind == "advance":
            clock.advance(args[0])
        else:
            expected = sorted(
                (service, instance_id)
                for instance_id, (service, _, last, _, since) in ref.items()
                if now - last > TTL or (since is not None and now - since > CRITICAL_AFTER)
            )
            evicted = registry.evict_expired()
            assert [(i.service, i.instance_id) for i in evicted] == expected
            for _, instance_id in expected:
                del ref[instance_id]
            expected_index += len(expected)

        assert registry.index == expected_index
        assert registry.services() == sorted({v[0] for v in ref.values()})
        for service in SERVICES:
            listed = sorted((i, v[1], v[3]) for i, v in ref.items() if v[0] == service)
            assert [
                (i.instance_id, i.address) for i in registry.instances(service, include_critical=True)
            ] == [(i, a) for i, a, _ in listed]
            assert ids(registry.instances(service)) == [i for i, _, h in listed if h is not Health.CRITICAL]
            for instance_id, _, health in listed:
                assert registry.health(service, instance_id) is health


# -- DiscoveryCache ---------------------------------------------------------------------------------


class CountingFetch:
    """A fetch that records when it was called and returns whatever ``answer`` holds now."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.calls: list[tuple[float, str]] = []
        self.answer: dict[str, list[Instance]] = {}

    def __call__(self, service: str) -> list[Instance]:
        self.calls.append((self.clock.now, service))
        return list(self.answer.get(service, []))


def test_cache_fetches_once_then_serves_hits_until_older_than_refresh_interval():
    clock = ManualClock()
    fetch = CountingFetch(clock)
    fetch.answer["orders"] = [inst("o1")]
    cache = DiscoveryCache(fetch, clock, refresh_interval=10)
    assert cache.age("orders") == math.inf

    assert cache.instances("orders") == [inst("o1")]
    fetch.answer["orders"] = [inst("o2")]
    clock.now = 10.0
    assert cache.age("orders") == 10.0
    assert cache.instances("orders") == [inst("o1")]  # age == refresh_interval: still fresh
    assert (cache.fetches, cache.hits) == (1, 1)
    clock.now = just_after(10.0)
    assert cache.instances("orders") == [inst("o2")]
    assert (cache.fetches, cache.hits) == (2, 1)
    assert cache.age("orders") == 0.0
    assert fetch.calls == [(0.0, "orders"), (just_after(10.0), "orders")]


def test_cache_entries_are_per_service_and_returned_lists_are_copies():
    clock = ManualClock()
    fetch = CountingFetch(clock)
    cache = DiscoveryCache(fetch, clock, refresh_interval=10)
    first = cache.instances("orders")
    first.append(inst("zz"))
    cache.instances("users")
    assert cache.instances("orders") == []
    assert [s for _, s in fetch.calls] == ["orders", "users"]


def test_invalidate_forces_the_next_lookup_to_fetch():
    clock = ManualClock()
    fetch = CountingFetch(clock)
    cache = DiscoveryCache(fetch, clock, refresh_interval=10)
    cache.instances("orders")
    cache.invalidate("orders")
    cache.invalidate("never-seen")  # a no-op, not an error
    assert cache.age("orders") == math.inf
    cache.instances("orders")
    assert cache.fetches == 2
    assert cache.hits == 0


def test_a_failing_fetch_propagates_and_keeps_the_old_entry():
    clock = ManualClock()
    answers: list[object] = [[inst("o1")], ConnectionError("registry down")]

    def fetch(service: str) -> list[Instance]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    cache = DiscoveryCache(fetch, clock, refresh_interval=5)
    cache.instances("orders")
    clock.advance(6)
    with pytest.raises(ConnectionError):
        cache.instances("orders")
    assert cache.fetches == 2
    assert cache.age("orders") == 6


@given(
    refresh=st.floats(0.5, 50),
    steps=st.lists(st.tuples(st.floats(0, 20), st.sampled_from(["orders", "users"])), max_size=100),
)
def test_cache_fetches_at_most_once_per_refresh_interval_and_never_serves_older_data(refresh, steps):
    clock = ManualClock()
    fetch = CountingFetch(clock)
    cache = DiscoveryCache(fetch, clock, refresh_interval=refresh)
    for gap, service in steps:
        clock.advance(gap)
        # the answer names the time it was produced, so each result tells its own age
        fetch.answer[service] = [Instance(service, "x1", address=repr(clock.now))]
        (served,) = cache.instances(service)
        assert 0 <= clock.now - float(served.address) <= refresh
    for service in ("orders", "users"):
        times = [t for t, s in fetch.calls if s == service]
        assert all(later - earlier > refresh for earlier, later in itertools.pairwise(times))
    assert cache.fetches == len(fetch.calls)
    assert cache.fetches + cache.hits == len(steps)


def test_stale_window_an_evicted_instance_is_served_until_the_cache_entry_ages_out():
    """Registry ttl 5 swept every second, cache refresh 10: b's last heartbeat is at 0 and it crashes.

    The registry drops b at the first sweep after 5 (t=6); the cache, which fetched at t=2, keeps
    serving b until its entry is older than 10 (t > 12). From t=6 to t=12 callers still get the dead
    instance: the stale-cache window.
    """
    clock = ManualClock()
    registry = Registry(clock, ttl=5)
    registry.register(inst("a1"))
    registry.register(inst("b1"))
    cache = DiscoveryCache(registry.instances, clock, refresh_interval=10)
    served_b: list[float] = []
    registry_b: list[float] = []
    evicted_at = None
    for tick in range(1, 17):
        clock.now = float(tick)
        registry.heartbeat("orders", "a1")  # a stays healthy; b has crashed and is silent
        if inst("b1") in registry.evict_expired():
            evicted_at = clock.now
        if tick >= 2 and "b1" in ids(cache.instances("orders")):  # callers start asking at t=2
            served_b.append(clock.now)
        if "b1" in ids(registry.instances("orders")):
            registry_b.append(clock.now)
    assert evicted_at == 6.0
    assert registry_b == [1.0, 2.0, 3.0, 4.0, 5.0]  # listed by the registry until the sweep
    assert served_b == [float(t) for t in range(2, 13)]  # ... and by the cache until age > 10
    assert [t for t in served_b if t >= evicted_at] == [6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]
    assert cache.fetches == 2  # at t=2 and t=13


# -- HealthCheck ------------------------------------------------------------------------------------


def test_health_check_passing_warning_critical_and_back():
    check = HealthCheck(interval=10, timeout=2, failures_to_critical=3, successes_to_passing=2)
    outcomes = [False, False, False, True, False, True, True, False, True, True]
    expected = ["warning", "warning", "critical", "critical", "critical", "critical", "passing", "warning"]
    expected += ["warning", "passing"]
    statuses = [check.record(ok, now=10.0 * n) for n, ok in enumerate(outcomes)]
    assert statuses == [Health(e) for e in expected]
    assert (check.consecutive_failures, check.consecutive_successes) == (0, 2)


def test_health_check_with_thresholds_of_one_flips_on_each_outcome():
    check = HealthCheck(interval=1, timeout=1, failures_to_critical=1, successes_to_passing=1)
    assert check.record(False, 0) is Health.CRITICAL
    assert check.record(True, 1) is Health.PASSING
    assert check.record(False, 2) is Health.CRITICAL


def test_health_check_can_start_critical_like_consul():
    check = HealthCheck(interval=1, timeout=1, initial=Health.CRITICAL)
    assert check.status is Health.CRITICAL
    assert check.record(True, 0) is Health.CRITICAL
    assert check.record(True, 1) is Health.PASSING


def test_health_check_is_due_at_start_and_every_interval():
    check = HealthCheck(interval=10, timeout=2)
    assert check.due(0.0)
    assert check.next_due() == -math.inf
    check.record(True, now=3.0)
    assert not check.due(12.9)
    assert check.due(13.0)
    assert check.next_due() == 13.0
    assert not check.timed_out(2.0)
    assert check.timed_out(just_after(2.0))


def reference_status(outcomes: list[bool], fail_n: int, ok_m: int) -> Health:
    """The documented state machine, written as plainly as possible."""
    status, fails, oks = Health.PASSING, 0, 0
    for ok in outcomes:
        fails, oks = (0, oks + 1) if ok else (fails + 1, 0)
        if ok and oks >= ok_m:
            status = Health.PASSING
        elif not ok and fails >= fail_n:
            status = Health.CRITICAL
        elif not ok and status is Health.PASSING:
            status = Health.WARNING
    return status


@given(
    outcomes=st.lists(st.booleans(), max_size=60),
    fail_n=st.integers(1, 5),
    ok_m=st.integers(1, 5),
)
def test_health_check_matches_the_reference_state_machine(outcomes, fail_n, ok_m):
    check = HealthCheck(interval=1, timeout=1, failures_to_critical=fail_n, successes_to_passing=ok_m)
    for n, ok in enumerate(outcomes):
        status = check.record(ok, now=float(n))
        assert status is reference_status(outcomes[: n + 1], fail_n, ok_m)
        assert status is check.status
    # the promises the thresholds make, independent of the reference
    trailing_failures = len(outcomes) - len(_rstrip_false(outcomes))
    if trailing_failures >= fail_n:
        assert check.status is Health.CRITICAL
    elif trailing_failures > 0:
        assert check.status is not Health.PASSING  # any failure takes it out of PASSING
    if len(outcomes) >= ok_m and all(outcomes[-ok_m:]):
        assert check.status is Health.PASSING
    if check.status is Health.CRITICAL:
        assert any(not any(outcomes[k : k + fail_n]) for k in range(len(outcomes) - fail_n + 1))


def _rstrip_false(outcomes: list[bool]) -> list[bool]:
    end = len(outcomes)
    while end and not outcomes[end - 1]:
        end -= 1
    return outcomes[:end]


# -- configuration errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (lambda: Registry(ManualClock(), ttl=0), "ttl=0"),
        (lambda: Registry(ManualClock(), ttl=-1.5), "ttl=-1.5"),
        (lambda: Registry(ManualClock(), ttl=math.nan), "ttl=nan"),
        (lambda: Registry(ManualClock(), ttl="30"), "ttl='30'"),
        (lambda: Registry(ManualClock(), ttl=True), "ttl=True"),
        (lambda: Registry(ManualClock(), deregister_critical_after=0), "deregister_critical_after=0"),
        (
            lambda: Registry(ManualClock(), deregister_critical_after=math.nan),
            "deregister_critical_after=nan",
        ),
        (lambda: Registry(ManualClock(), history=0), "history=0"),
        (lambda: DiscoveryCache(list, ManualClock(), refresh_interval=0), "refresh_interval=0"),
        (lambda: DiscoveryCache(list, ManualClock(), refresh_interval=math.nan), "refresh_interval=nan"),
        (lambda: HealthCheck(interval=0, timeout=1), "interval=0"),
        (lambda: HealthCheck(interval=math.nan, timeout=1), "interval=nan"),
        (lambda: HealthCheck(interval=1, timeout=-1), "timeout=-1"),
        (lambda: HealthCheck(1, 1, failures_to_critical=0), "failures_to_critical=0"),
        (lambda: HealthCheck(1, 1, failures_to_critical=2.5), "failures_to_critical=2.5"),
        (lambda: HealthCheck(1, 1, successes_to_passing=0), "successes_to_passing=0"),
    ],
)
def test_invalid_configuration_is_a_value_error_naming_the_value(make, named):
    with pytest.raises(ValueError, match=named.replace(".", r"\.")) as error:
        make()
    assert named in str(error.value)


def test_infinite_durations_are_allowed_and_mean_never():
    clock = ManualClock()
    registry = Registry(clock, ttl=math.inf)
    registry.register(inst("o1"))
    clock.advance(1e12)
    assert registry.evict_expired() == []
