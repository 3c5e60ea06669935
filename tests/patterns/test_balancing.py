"""Load balancing policies: each test checks a property the module docstrings promise."""

from __future__ import annotations

import math
import os
import random
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Hashable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patterns import balancing
from patterns.balancing import (
    POLICIES,
    ConsistentHash,
    LeastOutstanding,
    NoHealthyInstance,
    OutlierEjection,
    PeakEwma,
    Policy,
    PowerOfTwoChoices,
    RandomChoice,
    RoundRobin,
    WeightedRoundRobin,
    make_policy,
)
from patterns.clock import ManualClock

UNIVERSE = ("a", "b", "c", "d", "e", "f")


# --- every policy -----------------------------------------------------------------------------------


def _every_policy(clock: ManualClock, seed: int) -> list[Policy]:
    rng = random.Random(seed)
    options: dict[str, dict[str, object]] = {
        "weighted_round_robin": {"weights": {"a": 3, "b": 2}},
        "consistent_hash": {"replicas_per_instance": 10},
    }
    policies = [make_policy(name, rng=rng, clock=clock, **options.get(name, {})) for name in POLICIES]
    policies.append(ConsistentHash(replicas_per_instance=10, load_factor=None))
    policies.append(OutlierEjection(LeastOutstanding(rng), clock, consecutive_errors=2, base_ejection=1.0))
    policies.append(
        OutlierEjection(
            ConsistentHash(replicas_per_instance=10), clock, consecutive_errors=1, max_ejected_fraction=0.9
        )
    )
    return policies


def test_every_policy_raises_no_healthy_instance_on_an_empty_list() -> None:
    for policy in _every_policy(ManualClock(), seed=1):
        with pytest.raises(NoHealthyInstance):
            policy.pick([])
        with pytest.raises(LookupError):
            policy.pick([], key="session-1")


_operations = st.lists(
    st.tuples(
        st.sampled_from(["pick", "pick", "finish", "advance"]),
        st.sets(st.sampled_from(UNIVERSE), min_size=1),  # the healthy set for a pick
        st.one_of(st.none(), st.integers(0, 50)),  # the key for a pick
        st.integers(0, 1000),  # which in-flight request finishes
        st.floats(0, 3),  # its latency, or the clock advance
        st.booleans(),  # its outcome; also whether healthy is listed in reverse
    ),
    max_size=60,
)


@settings(max_examples=40, deadline=None)
@given(operations=_operations, seed=st.integers(0, 2**32))
def test_every_policy_only_returns_members_of_healthy(operations: list[tuple], seed: int) -> None:
    clock = ManualClock()
    for policy in _every_policy(clock, seed):
        in_flight: list[Hashable] = []
        for kind, members, key, which, amount, flag in operations:
            if kind == "pick":
                healthy = sorted(members, reverse=flag)
                chosen = policy.pick(healthy, key=key)
                assert chosen in members, (policy, healthy, chosen)
                policy.started(chosen)
                in_flight.append(chosen)
            elif kind == "finish" and in_flight:
                policy.finished(in_flight.pop(which % len(in_flight)), latency=amount, ok=flag)
            elif kind == "advance":
                clock.advance(amount)


# --- round robin and random -------------------------------------------------------------------------


@settings(deadline=None)
@given(n=st.integers(1, 12), rounds=st.integers(1, 5))
def test_round_robin_cycles_through_every_instance_in_turn(n: int, rounds: int) -> None:
    healthy = list(range(n))
    policy = RoundRobin()
    assert [policy.pick(healthy) for _ in range(n * rounds)] == healthy * rounds


def test_random_choice_is_roughly_uniform() -> None:
    # Pearson's chi-square with k - 1 = 4 degrees of freedom: a uniform picker exceeds 18.47 with
    # probability 0.001, so the seed cannot be hiding a bias; a picker that never chose one of the five
    # would score about 12,500 here.
    healthy, picks = ["a", "b", "c", "d", "e"], 50_000
    policy = RandomChoice(random.Random(20240601))
    counts = Counter(policy.pick(healthy) for _ in range(picks))
    expected = picks / len(healthy)
    chi_square = sum((counts[h] - expected) ** 2 / expected for h in healthy)
    assert chi_square < 18.47, counts


# --- smooth weighted round robin ----------------------------------------------------------------------


def test_weighted_round_robin_interleaves_as_nginx_documents() -> None:
    # nginx, ngx_http_upstream_round_robin.c: weights {a: 5, b: 1, c: 1} give "a a b a c a a".
    policy = WeightedRoundRobin({"a": 5, "b": 1, "c": 1})
    picks = "".join(str(policy.pick(["a", "b", "c"])) for _ in range(14))
    assert picks == "aabacaa" * 2


def test_weighted_round_robin_gives_missing_instances_weight_one() -> None:
    policy = WeightedRoundRobin({"a": 3})
    counts = Counter(policy.pick(["a", "b", "c"]) for _ in range(5 * 4))
    assert counts == {"a": 12, "b": 4, "c": 4}


_weights = st.dictionaries(st.sampled_from(UNIVERSE), st.integers(1, 12), min_size=1)


@settings(max_examples=60, deadline=None)
@given(weights=_weights)
def test_weighted_round_robin_gives_exact_shares_over_any_window(weights: dict[str, int]) -> None:
    healthy, total = list(weights), sum(weights.values())
    policy = WeightedRoundRobin(weights)
    picks = [policy.pick(healthy) for _ in range(3 * total)]
    for start in range(2 * total + 1):
        assert Counter(picks[start : start + total]) == weights, start


@settings(max_examples=60, deadline=None)
@given(weights=_weights)
def test_weighted_round_robin_spreads_a_heavy_instance_out(weights: dict[str, int]) -> None:
    healthy, total = list(weights), sum(weights.values())
    policy = WeightedRoundRobin(weights)
    picks = [policy.pick(healthy) for _ in range(total)]
    counts: Counter[str] = Counter()
    for t, chosen in enumerate(picks, start=1):
        counts[chosen] += 1
        # A picked instance's current weight stays above -total, so nobody ever runs a whole pick ahead
        # of its share t * w / total.
        assert all(counts[h] < t * weights[h] / total + 1 for h in healthy), (t, counts)
    if len(healthy) > 1:  # in one cycle from the start, no instance gets all its picks in a row
        for instance, weight in weights.items():
            longest = max(len(run) for run in re.findall(f"(?:{instance})+", "".join(picks)))
            assert weight == 1 or longest < weight, (instance, picks)


@pytest.mark.parametrize("weight", [0, -2, float("nan"), float("inf"), "3"])
def test_weighted_round_robin_rejects_bad_weights(weight: object) -> None:
    with pytest.raises(
        ValueError, match=re.escape(f"instance 'b' must be a finite number > 0, got {weight!r}")
    ):
        WeightedRoundRobin({"a": 1, "b": weight})  # type: ignore[dict-item]


# --- least outstanding --------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(operations=_operations, seed=st.integers(0, 2**32))
def test_least_outstanding_never_picks_more_than_the_minimum(operations: list[tuple], seed: int) -> None:
    policy = LeastOutstanding(random.Random(seed))
    in_flight: list[str] = []
    for kind, members, _, which, amount, flag in operations:
        if kind == "pick":
            chosen = policy.pick(sorted(members))
            load = Counter(in_flight)
            assert load[chosen] == min(load[h] for h in members)
            policy.started(chosen)
            in_flight.append(chosen)
        elif kind == "finish" and in_flight:
            policy.finished(in_flight.pop(which % len(in_flight)), latency=amount, ok=flag)
    assert all(policy.outstanding(h) == Counter(in_flight)[h] for h in UNIVERSE)


def test_least_outstanding_breaks_ties_at_random() -> None:
    policy = LeastOutstanding(random.Random(5))
    policy.started("a")
    counts = Counter(policy.pick(["a", "b", "c", "d"]) for _ in range(3000))
    assert set(counts) == {"b", "c", "d"}
    assert min(counts.values()) > 800  # each tie wins ~1000 times; sd = sqrt(3000 * 1/3 * 2/3) ~ 26


# --- power of two choices -----------------------------------------------------------------------------


def test_p2c_takes_the_less_loaded_of_its_two_samples() -> None:
    # Loads a=0, b=1, c=2: the pairs {a,b} and {a,c} give a, {b,c} gives b, c never wins.
    policy = PowerOfTwoChoices(random.Random(11))
    for instance, load in (("b", 1), ("c", 2)):
        for _ in range(load):
            policy.started(instance)
    picks = 30_000
    counts = Counter(policy.pick(["a", "b", "c"]) for _ in range(picks))
    assert "c" not in counts
    # Binomial(30000, 2/3): sd of the fraction is 0.0027, so +-0.02 is over 7 sd.
    assert counts["a"] / picks == pytest.approx(2 / 3, abs=0.02)


def test_p2c_with_as_many_choices_as_instances_is_least_outstanding() -> None:
    policy = PowerOfTwoChoices(random.Random(3), choices=5)
    for instance in "abcd":
        policy.started(instance)
    assert {policy.pick(list("abcde")) for _ in range(200)} == {"e"}


def _max_load_of_balls_into_bins(n: int, choices: int, seed: int) -> int:
    policy = PowerOfTwoChoices(random.Random(seed), choices=choices)
    bins = range(n)
    for _ in range(n):
        policy.started(policy.pick(bins))  # the ball stays: no finished()
    return max(policy.outstanding(b) for b in bins)


def test_p2c_balls_into_bins_matches_mitzenmacher() -> None:
    n = 100_000
    # d = 1: each bin's load is ~Poisson(1); P(load >= 6) = 5.9e-4, so ~59 bins are expected at 6 or
    # more and P(max < 6) ~ exp(-59). Typical max is 7-8.
    assert _max_load_of_balls_into_bins(n, choices=1, seed=7) >= 6
    # d = 2: the fluid limit (Mitzenmacher 1996), ds_i/dt = s_{i-1}^2 - s_i^2 over t in [0, 1], gives the
    # fraction of bins with load >= i as 0.76, 0.23, 0.0089, 6.1e-6, 1.3e-12 for i = 1..5: ~0.6 bins
    # expected at load 4 and 1.3e-7 at load 5. So the max is 3 or 4, and 5 would be a bug.
    assert _max_load_of_balls_into_bins(n, choices=2, seed=7) <= 4


# --- peak EWMA ------------------------------------------------------------------------------------------


def test_peak_ewma_avoids_an_instance_after_a_slow_answer() -> None:
    clock = ManualClock()
    policy = PeakEwma(clock, decay=10.0, rng=random.Random(2))
    healthy = ["a", "b", "c"]
    for instance, latency in (("a", 0.01), ("b", 0.01), ("c", 1.0)):
        policy.started(instance)
        policy.finished(instance, latency, ok=True)
    picks = []
    for _ in range(500):  # one request at a time, each answered fast
        chosen = policy.pick(healthy)
        picks.append(chosen)
        policy.started(chosen)
        clock.advance(0.01)
        policy.finished(chosen, 0.01, ok=True)
    # Reads decay c's 1 s estimate too, but 5 s is half a time constant: exp(-0.5) = 0.61 s is still far
    # above the 0.01 s of a and b (c would first win after about 10 * ln(100) = 46 s).
    assert "c" not in picks
    assert Counter(picks)["a"] > 150  # both fast instances are used


def test_peak_ewma_cost_grows_with_outstanding_requests() -> None:
    policy = PeakEwma(ManualClock(), rng=random.Random(1))
    for instance, latency in (("fast", 0.01), ("slow", 1.0)):
        policy.started(instance)
        policy.finished(instance, latency, ok=True)
    for _ in range(49):
        policy.started("fast")
    assert policy.pick(["fast", "slow"]) == "fast"  # 0.01 * (49 + 1) = 0.5 < 1.0 * (0 + 1)
    for _ in range(100):
        policy.started("fast")
    assert policy.pick(["fast", "slow"]) == "slow"  # 0.01 * (149 + 1) = 1.5 > 1.0


def test_peak_ewma_decays_with_the_time_constant_and_jumps_on_a_peak() -> None:
    clock = ManualClock()
    policy = PeakEwma(clock, decay=10.0)
    policy.started("a")
    policy.finished("a", 1.0, ok=True)
    assert policy.latency_estimate("a") == 1.0  # the first observation replaces the default
    clock.advance(5.0)
    policy.finished("a", 0.1, ok=True)
    expected = 1.0 * math.exp(-0.5) + 0.1 * (1 - math.exp(-0.5))
    assert policy.latency_estimate("a") == pytest.approx(expected, rel=1e-12)
    clock.advance(20.0)
    policy.finished("a", 0.1, ok=False)
    expected = expected * math.exp(-2.0) + 0.1 * (1 - math.exp(-2.0))
    assert policy.latency_estimate("a") == pytest.approx(expected, rel=1e-12)
    policy.finished("a", 0.1, ok=True)  # no time elapsed: weight 1, nothing moves
    assert policy.latency_estimate("a") == pytest.approx(expected, rel=1e-12)
    for _ in range(10):  # ten time constants of fast answers: back within 1e-4 of 0.1
        clock.advance(10.0)
        policy.finished("a", 0.1, ok=True)
    assert policy.latency_estimate("a") == pytest.approx(0.1, abs=1e-4)
    policy.finished("a", 2.5, ok=True)  # a peak replaces the average at once
    assert policy.latency_estimate("a") == 2.5
    assert policy.outstanding("a") == 0  # 13 finished for 1 started never goes negative


def test_peak_ewma_decays_an_unobserved_estimate_when_it_is_read() -> None:
    # "slow" answers in 1 s at t=0 and is never chosen again: every pick prices it (n = 2, so both are
    # sampled) and loses to "fast", and each read decays its estimate as an observation of 0 would.
    clock = ManualClock()
    policy = PeakEwma(clock, decay=10.0, rng=random.Random(3))
    policy.started("slow")
    policy.started("slow")  # one request stays in flight: cost = ewma * (1 + 1)
    policy.finished("slow", 1.0, ok=True)
    policy.started("fast")
    policy.finished("fast", 0.001, ok=True)
    assert policy.cost("slow") == 2.0
    for t in (0.0, 0.5, 3.0, 3.0, 7.25, 10.0, 25.0):  # 3.0 twice: a read with no elapsed time
        clock.advance(t - clock())
        assert policy.cost("slow") == pytest.approx(2.0 * math.exp(-t / 10.0), rel=1e-12)
        assert policy.pick(["slow", "fast"]) == "fast"
        stats = policy._stats["slow"]  # the read was recorded: successive decays compose exactly
        assert stats.ewma == pytest.approx(math.exp(-t / 10.0), rel=1e-12)
        assert stats.stamp == t
        assert policy.latency_estimate("slow") == stats.ewma  # no time since the read: nothing more
        policy.started("fast")
        policy.finished("fast", 0.001, ok=True)
    assert policy.outstanding("slow") == 1


def test_peak_ewma_weighs_an_answer_by_the_time_since_the_last_read() -> None:
    # As in Finagle and tower, a read moves the timestamp: an answer at t=20 after a read at t=10 blends
    # with weight exp(-10/decay) against the estimate stored by that read, and a peak is judged against
    # the stored estimate, not against the one decayed to the answer's time.
    clock = ManualClock()
    policy = PeakEwma(clock, decay=10.0)
    policy.started("a")
    policy.finished("a", 1.0, ok=True)
    clock.advance(10.0)
    policy.pick(["a", "b"])  # prices (so decays) both: a's stored estimate becomes exp(-1)
    policy.started("a")
    clock.advance(10.0)
    policy.finished("a", 0.3, ok=True)  # 0.3 < exp(-1) = 0.37, stored: no peak, although > exp(-2)
    w = math.exp(-1.0)
    assert policy.latency_estimate("a") == pytest.approx(math.exp(-1.0) * w + 0.3 * (1 - w), rel=1e-12)


def test_peak_ewma_tries_a_once_slow_instance_again_after_a_few_time_constants() -> None:
    # Low load: one request every 0.1 s, each answered in 0.01 s before the next is sent. "b" was slow
    # once (1 s) at t=0 and has since recovered. Without decay on read its estimate would stay 1 s and
    # "a" (~0.01 s) would win every comparison forever. With it, b's cost at t is exp(-t / decay) and
    # a's, read 0.09 s after its last answer, is 0.01 * exp(-0.09); so b first wins with the first
    # request after t = decay * ln 100 + 0.09 = 4.695 s, the one sent at t = 4.79 s.
    clock = ManualClock()
    policy = PeakEwma(clock, decay=1.0, rng=random.Random(5))
    policy.started("b")
    policy.finished("b", 1.0, ok=True)
    policy.started("a")
    policy.finished("a", 0.01, ok=True)
    picks = []
    for _ in range(200):  # 20 s = 20 time constants
        clock.advance(0.09)
        chosen = policy.pick(["a", "b"])
        picks.append((round(clock(), 2), chosen))
        policy.started(chosen)
        clock.advance(0.01)
        policy.finished(chosen, 0.01, ok=True)  # both answer in 0.01 s now
    first_b = next(t for t, chosen in picks if chosen == "b")
    assert first_b == 4.79
    after = Counter(chosen for t, chosen in picks if t > first_b)
    assert after["b"] > 0.3 * after.total()  # recovered: b gets its share again


@pytest.mark.parametrize(("default", "expected"), [(0.5, "new"), (2.0, "seen")])
def test_peak_ewma_prices_unobserved_instances_at_default_latency(default: float, expected: str) -> None:
    policy = PeakEwma(ManualClock(), default_latency=default)
    policy.started("seen")
    policy.finished("seen", 1.0, ok=True)
    assert policy.pick(["seen", "new"]) == expected


def test_peak_ewma_with_zero_costs_prefers_fewer_outstanding() -> None:
    policy = PeakEwma(ManualClock(), default_latency=0.0, rng=random.Random(4))
    policy.started("a")
    assert {policy.pick(["a", "b"]) for _ in range(50)} == {"b"}


def test_peak_ewma_rejects_a_negative_latency() -> None:
    policy = PeakEwma(ManualClock())
    with pytest.raises(ValueError, match=r"latency=-0\.1"):
        policy.finished("a", -0.1, ok=True)


# --- consistent hashing ---------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(keys=st.lists(st.one_of(st.text(max_size=8), st.integers()), max_size=30), n=st.integers(1, 8))
def test_consistent_hash_sends_a_key_to_the_same_instance(keys: list[Hashable], n: int) -> None:
    healthy = [f"10.0.0.{i}:8080" for i in range(n)]
    first, second = ConsistentHash(replicas_per_instance=20), ConsistentHash(replicas_per_instance=20)
    for key in keys:
        chosen = first.pick(healthy, key=key)
        assert first.pick(healthy, key=key) == chosen
        assert second.pick(list(reversed(healthy)), key=key) == chosen  # order and object do not matter


def test_consistent_hash_ring_is_stable_across_processes() -> None:
    # blake2b of repr, not the salted built-in hash(): other interpreters with other PYTHONHASHSEEDs
    # must route the same keys to the same instances as this one.
    script = (
        "from patterns.balancing import ConsistentHash\n"
        "p = ConsistentHash()\n"
        "print([p.pick(['a', 'b', 'c', 'd'], key=f'user-{i}') for i in range(20)])"
    )
    here = ConsistentHash()
    expected = str([here.pick(["a", "b", "c", "d"], key=f"user-{i}") for i in range(20)])
    root = Path(__file__).resolve().parents[2]
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True, check=True
        )
        assert result.stdout.strip() == expected


def test_consistent_hash_does_not_confuse_equal_keys_of_different_types() -> None:
    # 1 == 1.0 == True as dict keys, but their reprs (and so their ring positions) differ.
    healthy = [f"svc-{i}" for i in range(40)]
    warmed = ConsistentHash(load_factor=None)
    answers = [warmed.pick(healthy, key=key) for key in (1, 1.0, True, "1")]
    fresh = [ConsistentHash(load_factor=None).pick(healthy, key=key) for key in (1, 1.0, True, "1")]
    assert answers == fresh
    assert len(set(answers)) > 1  # with 40 instances, four different positions land on one in 1/40**3


def test_consistent_hash_moves_about_one_in_n_plus_one_keys_to_a_newcomer_only() -> None:
    # With 100 virtual nodes the newcomer's share of the ring is a sum of 100 arcs: mean 1/11 = 0.091,
    # relative sd 1/sqrt(100) = 10%, i.e. sd 0.009; 10,000 keys add a sampling sd of 0.003. The band
    # 0.091 +- 0.03 is about 3 sd of both together.
    keys = [f"session-{i}" for i in range(10_000)]
    before, after = ConsistentHash(load_factor=None), ConsistentHash(load_factor=None)
    old = [f"svc-{i}" for i in range(10)]
    new = [*old, "svc-10"]
    moved = [k for k in keys if before.pick(old, key=k) != after.pick(new, key=k)]
    assert all(after.pick(new, key=k) == "svc-10" for k in moved)
    assert 0.061 <= len(moved) / len(keys) <= 0.121


def test_consistent_hash_moves_only_the_keys_of_an_instance_that_leaves() -> None:
    keys = [f"session-{i}" for i in range(2000)]
    policy = ConsistentHash(load_factor=None)
    full = [f"svc-{i}" for i in range(6)]
    owner = {k: policy.pick(full, key=k) for k in keys}
    rest = [s for s in full if s != "svc-3"]
    assert all(policy.pick(rest, key=k) == owner[k] for k in keys if owner[k] != "svc-3")


def test_consistent_hash_rebuilds_the_ring_only_when_the_healthy_set_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    builds: list[frozenset[Hashable]] = []
    build = balancing._build_ring

    def counting_build(members: frozenset[Hashable], replicas: int) -> tuple:
        builds.append(members)
        return build(members, replicas)

    monkeypatch.setattr(balancing, "_build_ring", counting_build)
    policy = ConsistentHash()
    for i in range(50):
        policy.pick(["a", "b", "c"] if i % 2 else ["c", "a", "b"], key=i)
    assert len(builds) == 1
    policy.pick(["a", "b"], key=1)
    policy.pick(["b", "a", "c"], key=1)
    assert builds == [frozenset("abc"), frozenset("ab")]


def test_consistent_hash_without_a_key_is_round_robin() -> None:
    policy = ConsistentHash()
    assert [policy.pick(["x", "y", "z"]) for _ in range(6)] == ["x", "y", "z"] * 2


def test_consistent_hash_spills_a_hot_key_to_the_next_instance_and_comes_back() -> None:
    policy = ConsistentHash(load_factor=1.25)
    healthy = ["a", "b", "c", "d"]
    owner = policy.pick(healthy, key="hot")
    policy.started(owner)  # bound is now ceil(1.25 * 2 / 4) = 1, which the owner has reached
    spill = policy.pick(healthy, key="hot")
    assert spill != owner
    policy.finished(owner, 0.1, ok=True)
    assert policy.pick(healthy, key="hot") == owner


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 8),
    load_factor=st.floats(1.01, 3.0),
    operations=st.lists(st.tuples(st.booleans(), st.integers(0, 5), st.integers(0, 1000)), max_size=80),
)
def test_consistent_hash_with_bounded_loads_never_exceeds_the_bound(
    n: int, load_factor: float, operations: list[tuple[bool, int, int]]
) -> None:
    healthy = list(range(n))
    policy = ConsistentHash(replicas_per_instance=20, load_factor=load_factor)
    plain = ConsistentHash(replicas_per_instance=20, load_factor=None)  # the same ring, no bound
    in_flight: list[int] = []
    for is_pick, key, which in operations:  # few keys (0-5), so hot keys pile up
        if is_pick:
            bound = math.ceil(load_factor * (len(in_flight) + 1) / n)
            chosen = policy.pick(healthy, key=key)
            owner = plain.pick(healthy, key=key)
            if in_flight.count(owner) < bound:  # loads allow: the key stays with its owner
                assert chosen == owner
            policy.started(chosen)
            in_flight.append(chosen)
            assert in_flight.count(chosen) <= bound
        elif in_flight:
            policy.finished(in_flight.pop(which % len(in_flight)), 0.1, ok=True)


# --- outlier ejection -------------------------------------------------------------------------------------


def _fail(policy: Policy, instance: Hashable, times: int) -> None:
    for _ in range(times):
        policy.started(instance)
        policy.finished(instance, 0.01, ok=False)


def test_outlier_ejection_ejects_after_consecutive_errors_and_backs_off() -> None:
    clock = ManualClock()
    policy = OutlierEjection(RoundRobin(), clock, consecutive_errors=5, base_ejection=30.0)
    healthy = ["a", "b", "c", "d"]
    _fail(policy, "a", 4)
    policy.started("a")
    policy.finished("a", 0.01, ok=True)  # a success resets the count
    _fail(policy, "a", 4)
    assert policy.ejected() == frozenset()
    _fail(policy, "a", 1)
    assert policy.ejected() == {"a"}
    assert "a" not in {policy.pick(healthy) for _ in range(12)}
    _fail(policy, "a", 10)  # late answers from an ejected instance neither extend nor count
    clock.advance(29.9)
    assert policy.ejected() == {"a"}
    clock.advance(0.1)  # the first ejection lasts 30 s
    assert policy.ejected() == frozenset()
    assert "a" in {policy.pick(healthy) for _ in range(4)}
    _fail(policy, "a", 5)  # second ejection: 2 * 30 s
    clock.advance(59.9)
    assert policy.ejected() == {"a"}
    assert "a" not in {policy.pick(healthy) for _ in range(12)}
    clock.advance(0.1)
    assert policy.ejected() == frozenset()
    assert policy.ejected(now=clock() - 1) == frozenset({"a"})


def test_outlier_ejection_never_ejects_more_than_the_fraction() -> None:
    clock = ManualClock()
    policy = OutlierEjection(RoundRobin(), clock, consecutive_errors=1, max_ejected_fraction=0.5)
    healthy = ["a", "b", "c", "d"]
    for instance in "abc":  # ejected in this order, one second apart
        _fail(policy, instance, 1)
        clock.advance(1.0)
    assert policy.ejected() == {"a", "b", "c"}
    # Only floor(0.5 * 4) = 2 may stay out: the most recently ejected (b, c); a is let back in.
    assert {policy.pick(healthy) for _ in range(8)} == {"a", "d"}
    assert {policy.pick(["c"]) for _ in range(3)} == {"c"}  # floor(0.5 * 1) = 0: never an empty set


def test_outlier_ejection_forwards_to_the_wrapped_policy() -> None:
    inner = LeastOutstanding(random.Random(1))
    policy = OutlierEjection(inner, ManualClock())
    policy.started("a")
    policy.started("a")
    policy.finished("a", 0.2, ok=True)
    assert inner.outstanding("a") == 1
    assert policy.policy is inner
    assert policy.pick(["a", "b"]) == "b"


# --- configuration and factory ------------------------------------------------------------------------


_BAD_CONFIGS = [
    (lambda: PowerOfTwoChoices(choices=0), "choices=0"),
    (lambda: PowerOfTwoChoices(choices=1.5), "choices=1.5"),  # type: ignore[arg-type]
    (lambda: PeakEwma(ManualClock(), decay=0), "decay=0"),
    (lambda: PeakEwma(ManualClock(), decay=-1.0), "decay=-1.0"),
    (lambda: PeakEwma(ManualClock(), decay=float("nan")), "decay=nan"),
    (lambda: PeakEwma(ManualClock(), default_latency=-0.5), "default_latency=-0.5"),
    (lambda: ConsistentHash(load_factor=1.0), "load_factor=1.0"),
    (lambda: ConsistentHash(load_factor=0.8), "load_factor=0.8"),
    (lambda: ConsistentHash(load_factor=float("inf")), "load_factor=inf"),
    (lambda: ConsistentHash(replicas_per_instance=0), "replicas_per_instance=0"),
    (lambda: OutlierEjection(RoundRobin(), ManualClock(), consecutive_errors=0), "consecutive_errors=0"),
    (lambda: OutlierEjection(RoundRobin(), ManualClock(), base_ejection=-1.0), "base_ejection=-1.0"),
    (
        lambda: OutlierEjection(RoundRobin(), ManualClock(), max_ejected_fraction=1.5),
        "[0, 1], got max_ejected_fraction=1.5",
    ),
    (lambda: OutlierEjection(RoundRobin(), ManualClock(), max_ejected_fraction=-0.1), "fraction=-0.1"),
    (lambda: WeightedRoundRobin({"x": -2}), "instance 'x' must be a finite number > 0, got -2"),
]


@pytest.mark.parametrize(("build", "message"), _BAD_CONFIGS)
def test_bad_configuration_raises_value_error_naming_the_value(build, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        build()


def test_outlier_ejection_wraps_only_policies() -> None:
    with pytest.raises(TypeError, match="wraps a Policy"):
        OutlierEjection("round_robin", ManualClock())  # type: ignore[arg-type]


def test_make_policy_builds_every_named_policy() -> None:
    expected = {
        "round_robin": RoundRobin,
        "random": RandomChoice,
        "weighted_round_robin": WeightedRoundRobin,
        "least_outstanding": LeastOutstanding,
        "p2c": PowerOfTwoChoices,
        "peak_ewma": PeakEwma,
        "consistent_hash": ConsistentHash,
    }
    assert set(POLICIES) == set(expected)
    for name, cls in expected.items():
        options = {"weights": {"a": 2}} if name == "weighted_round_robin" else {}
        policy = make_policy(name, rng=random.Random(0), clock=ManualClock(), **options)
        assert type(policy) is cls
        assert policy.pick(["a", "b"], key="k") in {"a", "b"}


def test_make_policy_passes_options_and_the_seeded_rng() -> None:
    first, second = (make_policy("random", rng=random.Random(9)) for _ in range(2))
    healthy = list(range(10))
    assert [first.pick(healthy) for _ in range(20)] == [second.pick(healthy) for _ in range(20)]
    everyone = make_policy("p2c", rng=random.Random(9), choices=10)  # sees all ten: least outstanding
    for instance in range(9):
        everyone.started(instance)
    assert {everyone.pick(healthy) for _ in range(20)} == {9}
    assert make_policy("consistent_hash", load_factor=None).pick(healthy, key="k") in healthy


def test_make_policy_rejects_unknown_names_listing_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown load balancing policy 'fastest'") as error:
        make_policy("fastest", rng=None, clock=None)
    assert all(name in str(error.value) for name in POLICIES)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("p2c", {"choice": 2}, "unknown option(s) choice; it accepts: choices"),
        ("round_robin", {"decay": 1.0}, "accepts: no options"),
        ("weighted_round_robin", {}, "needs option(s) weights"),
        ("peak_ewma", {}, "needs a clock, got clock=None"),
    ],
)
def test_make_policy_rejects_bad_options(name: str, options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        make_policy(name, rng=None, clock=None, **options)


@pytest.mark.slow
def test_balls_into_bins_at_a_million_matches_the_published_figures() -> None:
    """n = 10^6 balls into 10^6 bins, each ball staying (started, never finished).

    Published figures (Mitzenmacher; Azar, Broder, Karlin and Upfal): one random choice gives a
    maximum load of about 8-9 at this n, two choices about 4 (ln ln n / ln 2 + O(1) = 3.8 + O(1)).
    For d = 1 the load of a bin is close to Poisson(1): P(max >= 12) ~ n P(X >= 12) ~ 1e-3 and
    P(max <= 6) ~ exp(-n P(X >= 7)) ~ exp(-83), so [7, 11] holds; for d = 2 the fluid limit leaves
    about 6 bins at load 4 and 1e-6 at load 5 (the n = 100,000 figures above, times ten), so the
    maximum is 4, and 3 only with probability about exp(-6).
    """
    n = 1_000_000
    bins = list(range(n))
    maxima = {}
    for name, policy in (
        ("one", RandomChoice(random.Random(11))),
        ("two", PowerOfTwoChoices(random.Random(11))),
    ):
        loads = [0] * n
        for _ in range(n):
            chosen = policy.pick(bins)
            policy.started(chosen)
            loads[chosen] += 1
        maxima[name] = max(loads)
    assert 7 <= maxima["one"] <= 11
    assert maxima["two"] == 4
