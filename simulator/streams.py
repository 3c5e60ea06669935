"""Named random streams: common random numbers across variants.

Each component draws from its own generator, derived from the run's seed, the replication index and
a stable hash of the component's name (``"service:orders"``, ``"arrivals:browse"``). A variant that
changes one service therefore still sees the same arrivals and the same demands everywhere else,
which makes comparisons between variants paired (and much sharper) rather than independent.
"""

from __future__ import annotations

from zlib import crc32

import numpy as np

__all__ = ["RandomStreams"]


class RandomStreams:
    """A factory of independent, reproducible generators keyed by name."""

    def __init__(self, seed: int, replication: int = 0) -> None:
        self.seed = seed
        self.replication = replication
        self._cache: dict[str, np.random.Generator] = {}

    def __call__(self, name: str) -> np.random.Generator:
        """The generator for ``name`` (the same object each time it is asked for)."""
        if name not in self._cache:
            key = (self.replication, crc32(name.encode()))
            self._cache[name] = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=key))
        return self._cache[name]
