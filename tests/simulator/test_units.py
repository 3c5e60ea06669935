"""Tests for human-unit parsing and formatting in simulator.units.

Expected values are written out by hand from the unit definitions (1ms = 1e-3 s, 1min = 60 s,
1h = 3600 s, ...) rather than read back from ``DURATION_UNITS``, except in the round-trip property,
whose point is that every advertised unit is accepted with its advertised scale.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from simulator.fields import Duration, PositiveDuration, Rate
from simulator.units import DURATION_UNITS, parse_duration, parse_rate

# --- parse_duration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("2min", 120.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("500us", 500e-6),
        ("500µs", 500e-6),
        ("750ns", 750e-9),
        ("1.5e3ms", 1.5),
        ("1E-3s", 1e-3),
        (".5s", 0.5),
        ("2.s", 2.0),
        ("3sec", 3.0),
        ("  42 ms  ", 0.042),
        ("2", 2.0),
        ("0.125", 0.125),
        ("+4s", 4.0),
        (3, 3.0),
        (0.25, 0.25),
    ],
)
def test_parse_duration_unit_table(text: object, seconds: float) -> None:
    result = parse_duration(text)
    assert isinstance(result, float)
    assert result == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize(
    "value",
    ["10 parsecs", "", "   ", "ms", "5//s", "5/s", "1 h 30 min", "5MS", "5 ms s", "1e", "twelve", "1,5s"],
)
def test_parse_duration_rejects_text_and_quotes_it(value: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(value))):
        parse_duration(value)


@pytest.mark.parametrize("value", [True, False, None, [1], {"s": 1}, b"5s"])
def test_parse_duration_rejects_non_numbers_and_quotes_them(value: object) -> None:
    # bool is an int subclass; it must not sneak through as 1.0 / 0.0 seconds.
    with pytest.raises(ValueError, match=re.escape(repr(value))) as excinfo:
        parse_duration(value)
    assert "duration" in str(excinfo.value)


def test_parse_duration_error_lists_the_units() -> None:
    with pytest.raises(ValueError, match="ms") as excinfo:
        parse_duration("10 parsecs")
    for unit in ("ns", "us", "ms", "s", "min", "h"):
        assert re.search(rf"\b{unit}\b", str(excinfo.value)), unit


@given(x=st.floats(min_value=0.0, exclude_min=True, allow_nan=False, allow_infinity=False))
def test_parse_duration_round_trips_every_unit(x: float) -> None:
    # repr(float) round-trips exactly, so the parsed number is x and the only rounding is the scale.
    # Every unit is checked for each x (one hypothesis run instead of one per unit keeps this fast).
    for unit, scale in DURATION_UNITS.items():
        assert parse_duration(f"{x}{unit}") == pytest.approx(x * scale, rel=1e-12), unit
        assert parse_duration(f" {x} {unit} ") == pytest.approx(x * scale, rel=1e-12), unit


def test_units_table_scales() -> None:
    expected = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0}
    expected |= {"m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
    assert expected == DURATION_UNITS


# --- parse_rate ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "per_second"),
    [
        ("500/s", 500.0),
        ("30/min", 0.5),
        ("1/10s", 0.1),
        ("2/ms", 2000.0),
        ("3600/h", 1.0),
        ("6 / 2 min", 0.05),
        ("1.5e3/s", 1500.0),
        ("5/0.5s", 10.0),
        ("1/us", 1e6),
        ("120", 120.0),
        (7, 7.0),
        (0.5, 0.5),
    ],
)
def test_parse_rate_table(text: object, per_second: float) -> None:
    result = parse_rate(text)
    assert isinstance(result, float)
    assert result == pytest.approx(per_second, rel=1e-12)


@pytest.mark.parametrize(
    "value", ["10 parsecs", "", "ms", "/s", "5//s", "5/", "5s", "5/parsec", "5 per s", "5/s/s"]
)
def test_parse_rate_rejects_text_and_quotes_it(value: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(value))):
        parse_rate(value)


@pytest.mark.parametrize("value", [True, None, [1], {"rate": 5}])
def test_parse_rate_rejects_non_numbers_and_quotes_them(value: object) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(value))) as excinfo:
        parse_rate(value)
    assert "rate" in str(excinfo.value)


@pytest.mark.parametrize("value", ["1/0s", "5/0.0ms"])
def test_parse_rate_rejects_a_zero_period(value: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(value))):
        parse_rate(value)


@settings(max_examples=50)
@given(
    count=st.floats(min_value=0.0, max_value=1e9, allow_nan=False),
    per=st.floats(min_value=1e-3, max_value=1e6, allow_nan=False),
    unit=st.sampled_from(sorted(DURATION_UNITS)),
)
def test_parse_rate_is_count_over_period(count: float, per: float, unit: str) -> None:
    assert parse_rate(f"{count}/{per}{unit}") == pytest.approx(
        count / (per * DURATION_UNITS[unit]), rel=1e-12, abs=1e-300
    )


# --- fields built on the parsers ----------------------------------------------------------


def test_fields_apply_parsers_and_bounds() -> None:
    assert TypeAdapter(Duration).validate_python("250ms") == pytest.approx(0.25)
    assert TypeAdapter(Duration).validate_python("0s") == 0.0
    assert TypeAdapter(Rate).validate_python("30/min") == pytest.approx(0.5)
    with pytest.raises(ValidationError, match="10 parsecs"):
        TypeAdapter(Duration).validate_python("10 parsecs")
    with pytest.raises(ValidationError):
        TypeAdapter(Duration).validate_python("-5ms")
    with pytest.raises(ValidationError):
        TypeAdapter(PositiveDuration).validate_python("0ms")
    with pytest.raises(ValidationError):
        TypeAdapter(Rate).validate_python("-1/s")
    with pytest.raises(ValidationError, match="True"):
        TypeAdapter(Rate).validate_python(True)
