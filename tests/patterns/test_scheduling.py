"""Node placement: capacity is never exceeded, spread balances, pack fills, failed nodes take nothing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patterns.scheduling import NodePool


@settings(max_examples=200, deadline=None)
@given(
    count=st.integers(1, 6),
    cpu=st.floats(0.5, 8),
    placement=st.sampled_from(["spread", "pack"]),
    ops=st.lists(st.tuples(st.booleans(), st.floats(0, 3)), max_size=60),
)
def test_no_node_ever_holds_more_than_its_capacity(
    count: int, cpu: float, placement: str, ops: list[tuple[bool, float]]
) -> None:
    pool = NodePool(count, cpu, placement)  # type: ignore[arg-type]
    held: list[tuple[int, float]] = []
    for add, request in ops:
        if add or not held:
            node = pool.place(request)
            if node is None:  # refused only when no node has room
                assert all(pool.free(n) + 1e-9 < request for n in range(count))
            else:
                held.append((node, request))
        else:
            pool.release(*held.pop(0))
        assert all(used <= cpu + 1e-9 for used in pool.used)


def test_spread_puts_one_replica_on_each_node_before_doubling_up() -> None:
    pool = NodePool(4, 4.0, "spread")
    assert [pool.place(1.0) for _ in range(6)] == [0, 1, 2, 3, 0, 1]


def test_pack_fills_a_node_before_the_next() -> None:
    pool = NodePool(4, 4.0, "pack")
    assert [pool.place(1.0) for _ in range(6)] == [0, 0, 0, 0, 1, 1]
    pool.release(0, 1.0)
    assert pool.place(1.0) == 0  # the fullest node that fits


def test_a_failed_node_takes_nothing_new_until_restored() -> None:
    pool = NodePool(2, 2.0, "spread")
    pool.fail(0)
    assert [pool.place(1.0), pool.place(1.0), pool.place(1.0)] == [1, 1, None]
    pool.restore(0)
    assert pool.place(1.0) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [((0, 1.0), "count >= 1"), ((1, 0.0), "cpu > 0"), ((1, 1.0, "random"), "placement")],
)
def test_invalid_pools_are_refused(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NodePool(*args)
