"""Independent replications of one scenario, and what they add up to.

Replication ``i`` uses the scenario's seed with replication index ``i`` in every named random
stream, so replications are independent of each other while the same (scenario, seed) always
reproduces the same experiment, and two variants run with the same seed share their random numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd

from simulator.engine import simulate
from simulator.records import RunResult
from simulator.scenario import Scenario
from simulator.summary import replication_metrics, summarize
from simulator.timeseries import timeseries

__all__ = ["Experiment", "run_experiment"]

Progress = Callable[[int, float], None]
"""Called with (replication index, fraction of that replication done)."""


@dataclass
class Experiment:
    """The replications of a scenario and their tables (every frame has a ``replication`` column)."""

    scenario: Scenario
    seed: int
    results: list[RunResult] = field(repr=False)

    @cached_property
    def per_replication(self) -> pd.DataFrame:
        """One row per replication, one column per metric of :func:`replication_metrics`."""
        frame = pd.DataFrame([replication_metrics(r) for r in self.results])
        frame.index.name = "replication"
        return frame

    @cached_property
    def summary(self) -> pd.DataFrame:
        """Each metric's mean and 95% confidence interval across replications."""
        return summarize(self.per_replication)

    def _stacked(self, frames: list[pd.DataFrame]) -> pd.DataFrame:
        return pd.concat(
            [f.assign(replication=r.replication) for f, r in zip(frames, self.results, strict=True)],
            ignore_index=True,
        )

    @cached_property
    def requests(self) -> pd.DataFrame:
        return self._stacked([r.requests for r in self.results])

    @cached_property
    def spans(self) -> pd.DataFrame:
        return self._stacked([r.spans for r in self.results])

    @cached_property
    def timeseries(self) -> pd.DataFrame:
        return self._stacked([timeseries(r) for r in self.results])

    @cached_property
    def tries(self) -> pd.DataFrame:
        return self._stacked([r.tries for r in self.results])

    @cached_property
    def breakers(self) -> pd.DataFrame:
        return self._stacked([r.breakers for r in self.results])

    @cached_property
    def messages(self) -> pd.DataFrame:
        return self._stacked([r.messages for r in self.results])

    @cached_property
    def db_ops(self) -> pd.DataFrame:
        return self._stacked([r.db_ops for r in self.results])

    @cached_property
    def scaling(self) -> pd.DataFrame:
        return self._stacked([r.scaling for r in self.results])

    @cached_property
    def versions(self) -> pd.DataFrame:
        return self._stacked([r.versions for r in self.results])

    @cached_property
    def deployments(self) -> pd.DataFrame:
        return self._stacked([r.deployments for r in self.results])


def run_experiment(
    scenario: Scenario,
    replications: int | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
) -> Experiment:
    """Run ``replications`` (default: the scenario's) independent replications of ``scenario``."""
    seed = scenario.seed if seed is None else seed
    results = []
    for index in range(replications or scenario.replications):
        tick = None if progress is None else (lambda done, i=index: progress(i, done))
        results.append(simulate(scenario, seed=seed, replication=index, progress=tick))
    return Experiment(scenario, seed, results)
