"""Human units in scenario files: durations such as ``"250ms"`` and rates such as ``"500/s"``.

A scenario is written by a person, so times and rates are strings with units. Internally every
duration is a float in seconds and every rate a float in events per second. A bare number is read
as already being in those base units.
"""

from __future__ import annotations

import re

__all__ = ["DURATION_UNITS", "parse_duration", "parse_rate"]

DURATION_UNITS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_DURATION = re.compile(rf"^\s*({_NUMBER})\s*([a-zµ]+)?\s*$")
_RATE = re.compile(rf"^\s*({_NUMBER})\s*(?:/\s*({_NUMBER})?\s*([a-zµ]+))?\s*$")


_EXAMPLES = {"duration": "'250ms' or '2s'", "rate": "'500/s' or '30/min'"}


def _expect_number_or_text(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a {what} such as {_EXAMPLES[what]}, got {value!r}")


def _float(value: int | float | str, what: str) -> float:
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{what} {str(value)[:20]}... is too large") from None


def parse_duration(value: object) -> float:
    """Return ``value`` in seconds: ``"250ms"`` -> 0.25, ``"2min"`` -> 120.0, ``3`` -> 3.0."""
    _expect_number_or_text(value, "duration")
    if isinstance(value, int | float):
        return _float(value, "duration")
    match = _DURATION.match(value)
    if match is None or (match.group(2) is not None and match.group(2) not in DURATION_UNITS):
        units = ", ".join(u for u in DURATION_UNITS if u != "µs")
        raise ValueError(f"cannot read {value!r} as a duration; write a number and a unit ({units})")
    number, unit = match.groups()
    return float(number) * DURATION_UNITS[unit or "s"]


def parse_rate(value: object) -> float:
    """Return ``value`` in events per second: ``"500/s"`` -> 500.0, ``"30/min"`` -> 0.5."""
    _expect_number_or_text(value, "rate")
    if isinstance(value, int | float):
        return _float(value, "rate")
    match = _RATE.match(value)
    if match is None or (match.group(3) is not None and match.group(3) not in DURATION_UNITS):
        raise ValueError(
            f"cannot read {value!r} as a rate; write events per unit of time, e.g. '500/s', '30/min'"
        )
    count, per_count, unit = match.groups()
    if unit is None:
        return float(count)
    period = float(per_count or 1.0) * DURATION_UNITS[unit]
    if period <= 0:
        raise ValueError(f"cannot read {value!r} as a rate: the period after '/' must be positive")
    return float(count) / period
