"""Who sends a request and what it asks for: finite populations with Zipf popularity.

A workload can draw, per request, a ``client`` (session affinity, per-client rate limits) and a
``key`` (the resource asked for: cache hits, consistent hashing). Each comes from a population of
``count`` members where member ``k`` (1-based rank) is chosen with probability proportional to
``1 / k**zipf``: ``zipf: 0`` is uniform, ``zipf: 1`` the classic Zipf law of web objects (Breslau et
al. 1999 measured exponents of 0.64-0.83 for web proxies). The probability mass of the ``C`` most
popular members, :meth:`Popularity.top_mass`, is what an ideal cache of ``C`` entries would hit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cached_property
from itertools import chain

import numpy as np
from pydantic import Field

from simulator.distributions import BLOCK
from simulator.fields import StrictModel

__all__ = ["Popularity"]


class Popularity(StrictModel):
    """A population of ``count`` members with Zipf(``zipf``) popularity; members are ranks 0..count-1."""

    count: int = Field(ge=1, le=10_000_000)
    zipf: float = Field(0.0, ge=0, le=10)

    @cached_property
    def probabilities(self) -> np.ndarray:
        weights = 1.0 / np.arange(1, self.count + 1, dtype=float) ** self.zipf
        return weights / weights.sum()

    def top_mass(self, members: int) -> float:
        """Probability that a request asks for one of the ``members`` most popular members."""
        return float(self.probabilities[: max(0, members)].sum())

    def sampler(self, rng: np.random.Generator) -> Callable[[], int]:
        """A callable drawing one member per call (in blocks, by inverse CDF)."""
        cdf = np.cumsum(self.probabilities)
        cdf[-1] = 1.0

        def blocks() -> Iterator[list[int]]:
            while True:
                yield np.searchsorted(cdf, rng.random(BLOCK), side="right").tolist()

        return chain.from_iterable(blocks()).__next__
