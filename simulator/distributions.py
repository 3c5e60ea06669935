"""Service-time and think-time distributions.

Each distribution is a schema model (selected by its ``dist`` key in a scenario) that knows its
exact ``mean`` and ``variance`` -- the analytic twins (Pollaczek-Khinchine, Little) need them -- and
can draw samples in blocks. The engine never calls numpy per event: :func:`sampler` returns a
zero-argument callable that hands out pre-drawn values one at a time and refills a block of
:data:`BLOCK` values when it runs out, which is what keeps sampling off the hot path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from itertools import chain
from statistics import NormalDist
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from simulator.fields import Duration, PositiveDuration, StrictModel

__all__ = [
    "BLOCK",
    "Deterministic",
    "Distribution",
    "Empirical",
    "Exponential",
    "Gamma",
    "Histogram",
    "LogNormal",
    "Mixture",
    "MixtureComponent",
    "Sampler",
    "Uniform",
    "sampler",
]

BLOCK = 4096
Sampler = Callable[[], float]

_Z99 = NormalDist().inv_cdf(0.99)


class Exponential(StrictModel):
    """Memoryless times with the given mean: the M in M/M/1."""

    dist: Literal["exponential"]
    mean: PositiveDuration

    @property
    def variance(self) -> float:
        return self.mean**2

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.exponential(self.mean, n)


class Deterministic(StrictModel):
    """Every sample equals ``value``: the D in M/D/1."""

    dist: Literal["deterministic"]
    value: Duration

    @property
    def mean(self) -> float:
        return self.value

    @property
    def variance(self) -> float:
        return 0.0

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(n, self.value)


class Uniform(StrictModel):
    """Times spread evenly between ``low`` and ``high``."""

    dist: Literal["uniform"]
    low: Duration
    high: Duration

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError(f"uniform needs low <= high, got low={self.low}s, high={self.high}s")
        return self

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    @property
    def variance(self) -> float:
        return (self.high - self.low) ** 2 / 12

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, n)


class LogNormal(StrictModel):
    """A heavy-ish right tail fixed by two numbers people measure: the mean and the 99th percentile.

    With ``ln X ~ N(mu, s^2)``: ``mean = exp(mu + s^2/2)`` and ``p99 = exp(mu + z s)`` where
    ``z = 2.326``. Eliminating mu gives ``s^2/2 - z s + ln(p99/mean) = 0``; the smaller root is the
    shape. A real root needs ``mean < p99 <= mean * exp(z^2/2)`` (about 14.9 times the mean).
    """

    dist: Literal["lognormal"]
    mean: PositiveDuration
    p99: PositiveDuration

    @model_validator(mode="after")
    def _reachable(self) -> LogNormal:
        ratio = self.p99 / self.mean
        if not 1 < ratio <= math.exp(_Z99**2 / 2):
            raise ValueError(
                f"lognormal needs mean < p99 <= {math.exp(_Z99**2 / 2):.1f} x mean, "
                f"got mean={self.mean}s, p99={self.p99}s"
            )
        return self

    @property
    def sigma(self) -> float:
        return _Z99 - math.sqrt(_Z99**2 - 2 * math.log(self.p99 / self.mean))

    @property
    def mu(self) -> float:
        return math.log(self.mean) - self.sigma**2 / 2

    @property
    def variance(self) -> float:
        return (math.exp(self.sigma**2) - 1) * self.mean**2

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.lognormal(self.mu, self.sigma, n)


class Gamma(StrictModel):
    """Times with a chosen mean and coefficient of variation (cv = std / mean); cv=1 is exponential."""

    dist: Literal["gamma"]
    mean: PositiveDuration
    cv: float = Field(gt=0)

    @property
    def variance(self) -> float:
        return (self.cv * self.mean) ** 2

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        shape = 1 / self.cv**2
        return rng.gamma(shape, self.mean / shape, n)


class Empirical(StrictModel):
    """Resample measured times uniformly (a bootstrap of the observed distribution)."""

    dist: Literal["empirical"]
    samples: list[Duration] = Field(min_length=1)

    @property
    def mean(self) -> float:
        return float(np.mean(self.samples))

    @property
    def variance(self) -> float:
        return float(np.var(self.samples))

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.choice(np.asarray(self.samples), n)


class Histogram(StrictModel):
    """A measured histogram: a bin is chosen in proportion to its count, then a time uniform in it."""

    dist: Literal["histogram"]
    edges: list[Duration] = Field(min_length=2)
    counts: list[float] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Histogram:
        if len(self.counts) != len(self.edges) - 1:
            raise ValueError(
                f"histogram needs one count per bin: {len(self.edges)} edges make "
                f"{len(self.edges) - 1} bins but {len(self.counts)} counts were given"
            )
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError("histogram edges must increase strictly")
        if any(c < 0 for c in self.counts) or sum(self.counts) <= 0:
            raise ValueError("histogram counts must be non-negative with a positive total")
        return self

    def _weights(self) -> np.ndarray:
        counts = np.asarray(self.counts, dtype=float)
        return counts / counts.sum()

    @property
    def mean(self) -> float:
        edges = np.asarray(self.edges)
        return float(self._weights() @ ((edges[:-1] + edges[1:]) / 2))

    @property
    def variance(self) -> float:
        lo, hi = np.asarray(self.edges[:-1]), np.asarray(self.edges[1:])
        second_moment = self._weights() @ ((lo**2 + lo * hi + hi**2) / 3)
        return float(second_moment - self.mean**2)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        edges = np.asarray(self.edges)
        bins = rng.choice(len(self.counts), n, p=self._weights())
        return rng.uniform(edges[bins], edges[bins + 1])


class MixtureComponent(StrictModel):
    weight: float = Field(gt=0)
    distribution: Distribution


class Mixture(StrictModel):
    """A weighted blend of distributions, e.g. 95% cache hits at 1ms and 5% misses at 40ms."""

    dist: Literal["mixture"]
    components: list[MixtureComponent] = Field(min_length=1)

    def _weights(self) -> np.ndarray:
        weights = np.asarray([c.weight for c in self.components])
        return weights / weights.sum()

    @property
    def mean(self) -> float:
        return float(self._weights() @ [c.distribution.mean for c in self.components])

    @property
    def variance(self) -> float:
        # Law of total variance: E[Var] + Var[E].
        weights = self._weights()
        means = np.asarray([c.distribution.mean for c in self.components])
        variances = np.asarray([c.distribution.variance for c in self.components])
        return float(weights @ variances + weights @ (means - weights @ means) ** 2)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        chosen = rng.choice(len(self.components), n, p=self._weights())
        out = np.empty(n)
        for index, component in enumerate(self.components):
            where = chosen == index
            out[where] = component.distribution.draw(rng, int(where.sum()))
        return out


Distribution = Annotated[
    Exponential | Deterministic | Uniform | LogNormal | Gamma | Empirical | Histogram | Mixture,
    Field(discriminator="dist"),
]
MixtureComponent.model_rebuild()
Mixture.model_rebuild()


def _blocks(distribution: Distribution, rng: np.random.Generator) -> Iterator[list[float]]:
    while True:
        yield distribution.draw(rng, BLOCK).tolist()


def sampler(distribution: Distribution, rng: np.random.Generator) -> Sampler:
    """Return a callable drawing one sample per call from ``distribution`` with ``rng``, in blocks."""
    return chain.from_iterable(_blocks(distribution, rng)).__next__
