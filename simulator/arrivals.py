"""Open-loop arrival processes: when requests arrive, independent of how the system copes.

Every process turns into an iterator of absolute arrival times (seconds, increasing) that ends
before ``until`` (the run's horizon), so a rate that drops to zero for good ends it. Processes
whose rate varies in time (step, ramp, sinusoidal) are non-homogeneous Poisson processes sampled by
thinning (Lewis and Shedler): candidates arrive at the peak rate and each is kept with probability
``rate(t) / peak``. Times are generated in numpy blocks so the engine pays one ``next()`` per arrival.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from simulator.distributions import BLOCK
from simulator.fields import Duration, PositiveDuration, Rate, StrictModel

__all__ = [
    "MMPP",
    "ArrivalProcess",
    "Constant",
    "MMPPState",
    "Poisson",
    "Ramp",
    "RateStep",
    "Sinusoidal",
    "Step",
    "Trace",
]


def _poisson_times(rng: np.random.Generator, rate: float, start: float, until: float) -> Iterator[float]:
    """Homogeneous Poisson arrivals at ``rate`` in ``[start, until)``."""
    if rate <= 0:
        return
    now = start
    while now < until:
        block = now + np.cumsum(rng.exponential(1.0 / rate, BLOCK))
        now = float(block[-1])
        yield from block[block < until].tolist()


class Poisson(StrictModel):
    """Independent arrivals at a constant mean rate: exponential gaps, the M in M/M/1."""

    process: Literal["poisson"]
    rate: Rate

    def times(self, rng: np.random.Generator, until: float = math.inf) -> Iterator[float]:
        return _poisson_times(rng, self.rate, 0.0, until)


class Constant(StrictModel):
    """Perfectly regular arrivals, one every ``1 / rate`` seconds (a load generator's fixed pacing)."""

    process: Literal["constant"]
    rate: Rate = Field(gt=0)

    def times(self, rng: np.random.Generator, until: float = math.inf) -> Iterator[float]:
        gap = 1.0 / self.rate
        first = 0
        while first * gap < until:
            block = gap * np.arange(first + 1, first + BLOCK + 1)
            yield from block[block < until].tolist()
            first += BLOCK


class _Thinned(StrictModel):
    """Shared thinning sampler for processes defined by a rate function."""

    def rate_at(self, t: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def peak_rate(self) -> float:
        raise NotImplementedError

    def times(self, rng: np.random.Generator, until: float = math.inf) -> Iterator[float]:
        candidates = _poisson_times(rng, self.peak_rate(), 0.0, until)
        while len(block := np.fromiter(islice(candidates, BLOCK), float)):
            keep = rng.random(len(block)) * self.peak_rate() < self.rate_at(block)
            yield from block[keep].tolist()


class RateStep(StrictModel):
    at: Duration
    rate: Rate


class Step(_Thinned):
    """Piecewise-constant Poisson rate: each step sets the rate from its ``at`` time on (0 before)."""

    process: Literal["step"]
    steps: list[RateStep] = Field(min_length=1)

    @model_validator(mode="after")
    def _sorted(self) -> Step:
        ats = [s.at for s in self.steps]
        if ats != sorted(ats):
            raise ValueError(f"step times must increase, got {ats}")
        return self

    def rate_at(self, t: np.ndarray) -> np.ndarray:
        rates = np.asarray([0.0] + [s.rate for s in self.steps])
        return rates[np.searchsorted([s.at for s in self.steps], t, side="right")]

    def peak_rate(self) -> float:
        return max(s.rate for s in self.steps)


class Ramp(_Thinned):
    """Poisson rate moving linearly from ``rate_from`` at ``start`` to ``rate_to`` at ``end``, then held."""

    process: Literal["ramp"]
    rate_from: Rate
    rate_to: Rate
    start: Duration = 0.0
    end: PositiveDuration

    @model_validator(mode="after")
    def _ordered(self) -> Ramp:
        if self.end <= self.start:
            raise ValueError(f"ramp needs start < end, got start={self.start}s, end={self.end}s")
        return self

    def rate_at(self, t: np.ndarray) -> np.ndarray:
        return np.interp(t, [self.start, self.end], [self.rate_from, self.rate_to])

    def peak_rate(self) -> float:
        return max(self.rate_from, self.rate_to)


class Sinusoidal(_Thinned):
    """A diurnal cycle: ``mean + amplitude * sin(2 pi (t - phase) / period)`` arrivals per second."""

    process: Literal["sinusoidal"]
    mean: Rate
    amplitude: Rate
    period: PositiveDuration
    phase: Duration = 0.0

    @model_validator(mode="after")
    def _non_negative(self) -> Sinusoidal:
        if self.amplitude > self.mean:
            raise ValueError(
                f"sinusoidal rate would go negative: amplitude {self.amplitude}/s > mean {self.mean}/s"
            )
        return self

    def rate_at(self, t: np.ndarray) -> np.ndarray:
        return self.mean + self.amplitude * np.sin(2 * math.pi * (t - self.phase) / self.period)

    def peak_rate(self) -> float:
        return self.mean + self.amplitude


class MMPPState(StrictModel):
    rate: Rate
    mean_duration: PositiveDuration


class MMPP(StrictModel):
    """Markov-modulated Poisson process: bursty traffic that switches between rate states.

    The process stays in a state for an exponential time with that state's mean duration, arriving
    as Poisson at the state's rate, then jumps to one of the other states chosen uniformly (with two
    states it alternates: the classic on/off burst model).
    """

    process: Literal["mmpp"]
    states: list[MMPPState] = Field(min_length=2)

    def times(self, rng: np.random.Generator, until: float = math.inf) -> Iterator[float]:
        state, now = 0, 0.0
        while now < until:
            current = self.states[state]
            end = now + rng.exponential(current.mean_duration)
            for t in _poisson_times(rng, current.rate, now, until):
                if t >= end:
                    break
                yield t
            now = end
            state = (state + 1 + int(rng.integers(len(self.states) - 1))) % len(self.states)


class Trace(StrictModel):
    """Replay recorded arrival times from a CSV file (one timestamp in seconds per row).

    ``file`` is relative to the scenario file. Timestamps are shifted so the first is at 0 and may be
    compressed or stretched with ``time_scale`` (0.5 replays twice as fast).
    """

    process: Literal["trace"]
    file: Path
    column: str = "timestamp"
    time_scale: float = Field(1.0, gt=0)
    _times: list[float] = PrivateAttr(default_factory=list)

    @field_validator("file")
    @classmethod
    def _resolve(cls, value: Path, info: ValidationInfo) -> Path:
        base = (info.context or {}).get("base_dir")
        path = value if value.is_absolute() or base is None else Path(base) / value
        if not path.is_file():
            raise ValueError(f"trace file {str(path)!r} does not exist")
        return path

    def model_post_init(self, context: object) -> None:
        try:
            times = _read_timestamps(self.file, self.column)
        except (ValueError, TypeError, OSError, csv.Error) as error:
            raise ValueError(f"trace file {str(self.file)!r}: {error}") from None
        self._times = [(t - times[0]) * self.time_scale for t in times]

    def times(self, rng: np.random.Generator, until: float = math.inf) -> Iterator[float]:
        return (t for t in self._times if t < until)


def _read_timestamps(path: Path, column: str) -> list[float]:
    """The finite timestamps in ``column`` of the CSV file at ``path``, sorted."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or column not in reader.fieldnames:
            raise ValueError(f"no column {column!r}")
        times = sorted(float(row[column]) for row in reader)
    if not times:
        raise ValueError("no rows")
    if not all(math.isfinite(t) for t in times):
        raise ValueError("timestamps must be finite numbers")
    return times


ArrivalProcess = Annotated[
    Poisson | Constant | Step | Ramp | Sinusoidal | MMPP | Trace, Field(discriminator="process")
]
