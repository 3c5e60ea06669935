"""SLO clauses, the smallest configuration meeting them, and the knee rule, on exact inputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from simulator.slo import KNEE_FACTOR, knee, meets, numeric, parse_slo, smallest_meeting


def test_clauses_are_read_in_the_metrics_units() -> None:
    clauses = parse_slo("p99<200ms, p999<1s,mean<50ms,errors<0.1%,throughput>2/ms,p50<0.01")
    assert [(c.metric, c.op) for c in clauses] == [
        ("latency_p99", "<"),
        ("latency_p999", "<"),
        ("latency_mean", "<"),
        ("error_rate", "<"),
        ("throughput", ">"),
        ("latency_p50", "<"),
    ]
    assert [c.limit for c in clauses] == pytest.approx([0.2, 1.0, 0.05, 0.001, 2000.0, 0.01])
    assert parse_slo("errors<0.02")[0].limit == 0.02


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("p98<200ms", "unknown SLO 'p98'"),
        ("p99>200ms", "should read p99<LIMIT"),
        ("throughput<5/s", "should read throughput>LIMIT"),
        ("p99<fast", "cannot read 'fast' as a duration"),
        ("errors<150%", "between 0% and 100%"),
        ("p99=200ms", "cannot read the SLO clause 'p99=200ms'"),
        ("p99<200ms,", "cannot read the SLO clause ''"),
    ],
)
def test_a_bad_clause_is_refused_with_its_text(text: str, says: str) -> None:
    with pytest.raises(ValueError, match="SLO") as raised:
        parse_slo(text)
    assert says in str(raised.value)


def test_a_clause_is_strict_and_nan_never_meets_it() -> None:
    (below,) = parse_slo("p99<200ms")
    assert below.holds(0.199)
    assert not below.holds(0.2)
    assert not below.holds(math.nan)


def _summary(rows: list[tuple[int, str, float, float]]) -> pd.DataFrame:
    """A sweep summary over ``replicas`` and ``variant`` with a p99 and an error rate per point."""
    records = []
    for replicas, variant, p99, errors in rows:
        for metric, mean in (("latency_p99", p99), ("error_rate", errors)):
            records.append({"replicas": replicas, "variant": variant, "metric": metric, "mean": mean})
    return pd.DataFrame(records)


def test_the_smallest_configuration_is_the_first_passing_point_per_variant() -> None:
    summary = _summary(
        [
            (10, "base", 0.05, 0.0),  # out of order on purpose: ordered by value, numerically
            (2, "base", 0.90, 0.0),
            (4, "base", 0.15, 0.01),  # fast but too many errors
            (6, "base", 0.12, 0.0),
            (2, "cached", 0.19, 0.0),
        ]
    )
    clauses = parse_slo("p99<200ms,errors<0.1%")
    table = meets(summary, clauses, ["replicas", "variant"])
    assert table["meets"].tolist() == [True, False, False, True, True]
    best = smallest_meeting(summary, clauses, ["replicas"])
    assert best[["replicas", "variant"]].values.tolist() == [[2, "cached"], [6, "base"]]


def test_values_with_units_order_numerically() -> None:
    assert [numeric(v) for v in (3, "250ms", "2s", "30/min", "500/s", "big")][:5] == [
        3.0,
        0.25,
        2.0,
        0.5,
        500.0,
    ]
    assert math.isnan(numeric("big"))


def test_knee_of_a_hockey_stick_is_where_it_turns() -> None:
    x = np.arange(1, 9, dtype=float)
    y = np.where(x <= 5, 10 + x, 15 + 20 * (x - 5))  # slope 1, then 20 from x = 5 on
    assert knee(x, y) == 4  # x = 5: the last point before the steep part


def test_knee_of_a_falling_curve_is_read_from_the_right() -> None:
    """Latency against replicas: steep at few replicas, flat after 3; the knee is 3 replicas."""
    replicas = np.arange(1, 9, dtype=float)
    p99 = np.array([900.0, 300.0, 60.0, 55.0, 52.0, 50.0, 49.0, 48.5])
    assert knee(replicas, p99) == 2


def test_no_knee_on_a_straight_line_or_short_curve() -> None:
    x = np.arange(6, dtype=float)
    assert knee(x, 2 * x + 1) is None
    assert knee([1.0, 2.0], [1.0, 100.0]) is None
    # Just under and just over the factor: a segment exactly KNEE_FACTOR times steeper is no knee.
    assert knee([0, 1, 2, 3], [0, 1, 2, 2 + KNEE_FACTOR]) is None
    assert knee([0, 1, 2, 3], [0, 1, 2, 2 + KNEE_FACTOR + 0.01]) == 2


def test_knee_skips_missing_points() -> None:
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    y = [1.0, math.nan, 3.0, 4.0, 40.0]
    assert knee(x, y) == 3
