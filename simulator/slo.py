"""Service-level objectives over a sweep, and the knee of a response curve.

An SLO is a comma-separated list of clauses, each ``NAME<LIMIT`` or ``NAME>LIMIT``:

| clause | metric | limit |
|---|---|---|
| ``p50``, ``p90``, ``p99``, ``p999`` | ``latency_p50`` ... ``latency_p999`` | a duration: ``200ms``, ``1s`` |
| ``mean`` | ``latency_mean`` | a duration |
| ``errors`` | ``error_rate`` | ``0.1%`` or a fraction ``0.001`` |
| ``throughput`` | ``throughput`` | a rate: ``500/s`` (or a number per second) |

A point meets the SLO when the *mean* across replications of every clause's metric is on the
right side of its limit (strictly). The smallest configuration meeting it is, per variant, the first
passing point when points are ordered by their params' values (numerically where they have units,
the first param first): the fewest replicas, the lowest rate, and so on.

The **knee** of a curve y(x) (points in increasing x) is where it turns steep: the first point
``x[i]`` whose next segment has a slope greater than :data:`KNEE_FACTOR` times the reference slope,
the slope of the first segment -- floored at a tenth of the curve's average slope, so that a flat
start does not make every later rise a knee. A falling curve (latency against replicas) is read from
its right end, mirrored, so its knee is the smallest x before the steep part. No knee when no
segment is that steep, or with fewer than three points.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator.units import parse_duration, parse_rate

__all__ = ["KNEE_FACTOR", "Clause", "knee", "meets", "numeric", "parse_slo", "smallest_meeting"]

KNEE_FACTOR = 3.0
"""A segment steeper than this many times the reference slope marks the knee."""

_LATENCY = {
    "p50": "latency_p50",
    "p90": "latency_p90",
    "p99": "latency_p99",
    "p999": "latency_p999",
    "mean": "latency_mean",
}
_CLAUSE = re.compile(r"^\s*([a-z0-9_]+)\s*([<>])\s*(\S+)\s*$")


@dataclass(frozen=True)
class Clause:
    """``metric`` must be below (``<``) or above (``>``) ``limit`` (in the metric's unit)."""

    text: str
    metric: str
    op: str
    limit: float

    def holds(self, value: float) -> bool:
        if math.isnan(value):
            return False
        return value < self.limit if self.op == "<" else value > self.limit


def _limit(name: str, text: str) -> float:
    if name in _LATENCY:
        return parse_duration(text)
    if name == "errors":
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        if not 0 <= value <= 1:
            raise ValueError(f"an error rate is between 0% and 100%, got {text!r}")
        return value
    return parse_rate(text)


def parse_slo(text: str) -> list[Clause]:
    """Read ``"p99<200ms,errors<0.1%"``; a clause that cannot be read raises ValueError naming it."""
    clauses = []
    for part in text.split(","):
        match = _CLAUSE.match(part)
        names = ", ".join([*_LATENCY, "errors", "throughput"])
        if match is None:
            raise ValueError(
                f"cannot read the SLO clause {part.strip()!r}: write NAME<LIMIT, NAME from {names}"
            )
        name, op, limit = match.groups()
        if name not in _LATENCY and name not in ("errors", "throughput"):
            raise ValueError(f"unknown SLO {name!r} in {part.strip()!r}; known: {names}")
        expected = ">" if name == "throughput" else "<"
        if op != expected:
            raise ValueError(f"the SLO clause {part.strip()!r} should read {name}{expected}LIMIT")
        try:
            value = _limit(name, limit)
        except ValueError as error:
            raise ValueError(f"the SLO clause {part.strip()!r}: {error}") from None
        metric = _LATENCY.get(name, "error_rate" if name == "errors" else "throughput")
        clauses.append(Clause(part.strip(), metric, op, value))
    return clauses


def meets(summary: pd.DataFrame, clauses: Sequence[Clause], keys: Sequence[str]) -> pd.DataFrame:
    """One row per point (``keys``: the params and ``variant``), a boolean column per clause and ``meets``."""
    rows = []
    for key, group in summary.groupby(list(keys), sort=False):
        means = dict(zip(group["metric"], group["mean"], strict=True))
        row = dict(zip(keys, key, strict=True))
        row |= {c.text: c.holds(float(means.get(c.metric, math.nan))) for c in clauses}
        rows.append(row)
    table = pd.DataFrame(rows, columns=[*keys, *(c.text for c in clauses)])
    table["meets"] = table[[c.text for c in clauses]].all(axis=1)
    return table


def numeric(value: object) -> float:
    """A param's value as a number: plain numbers, then durations (seconds), then rates (per second)."""
    if isinstance(value, bool):
        return float(value)
    for read in (float, parse_duration, parse_rate):
        try:
            return float(read(value))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
    return math.nan


def smallest_meeting(summary: pd.DataFrame, clauses: Sequence[Clause], params: Sequence[str]) -> pd.DataFrame:
    """Per variant, the first point meeting every clause in the order of the params' values (may be empty)."""
    table = meets(summary, clauses, [*params, "variant"])
    order = [f"_{p}" for p in params]
    for param, column in zip(params, order, strict=True):
        table[column] = table[param].map(numeric)
    table = table.sort_values(order, kind="stable").drop(columns=order)
    return table[table["meets"]].groupby("variant", sort=False).head(1).reset_index(drop=True)


def knee(x: Sequence[float], y: Sequence[float], factor: float = KNEE_FACTOR) -> int | None:
    """Index of the knee of y(x) (see the module docstring), or None."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = ~(np.isnan(xs) | np.isnan(ys))
    index = np.flatnonzero(keep)
    xs, ys = xs[keep], ys[keep]
    if len(xs) < 3:
        return None
    falling = ys[-1] < ys[0]
    if falling:  # mirror: read from the right, x measured leftwards
        xs, ys = -xs[::-1], ys[::-1]
    slopes = np.diff(ys) / np.diff(xs)
    average = (ys[-1] - ys[0]) / (xs[-1] - xs[0])
    reference = max(slopes[0], average / 10)
    if reference <= 0:
        return None
    steep = np.flatnonzero(slopes[1:] > factor * reference)
    if not len(steep):
        return None
    at = int(steep[0]) + 1
    return int(index[len(xs) - 1 - at] if falling else index[at])
