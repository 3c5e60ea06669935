"""Variants of a scenario, run side by side on the same random numbers.

Every variant is replicated with the same seed, so replication ``i`` of each variant sees the same
arrivals and service demands wherever the variant did not change them (common random numbers).
Differences between variants are therefore *paired*: :meth:`Comparison.differences` takes the
difference per replication before averaging, which cancels most of the noise the variants share
and gives much tighter intervals than comparing two independent summaries.

A run without variants is a comparison of one: the report and the command line treat both alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from simulator.experiment import Experiment, run_experiment
from simulator.loader import apply_variant
from simulator.scenario import BASE, Scenario
from simulator.summary import confidence_interval

__all__ = ["BASE", "Comparison", "run_comparison"]

Progress = Callable[[str, int, float], None]
"""Called with (variant, replication index, fraction of that replication done)."""


@dataclass
class Comparison:
    """The experiments of several variants, keyed by variant name in the order they were run."""

    experiments: dict[str, Experiment]

    @property
    def names(self) -> list[str]:
        return list(self.experiments)

    @property
    def base(self) -> Experiment:
        """The first experiment: the reference the others are compared with."""
        return next(iter(self.experiments.values()))

    @cached_property
    def summary(self) -> pd.DataFrame:
        """Rows ``(variant, metric)``, columns ``mean``, ``low``, ``high``, ``n``."""
        return pd.concat(
            {name: e.summary for name, e in self.experiments.items()}, names=["variant", "metric"]
        )

    def differences(self, metric: str, level: float = 0.95) -> pd.DataFrame:
        """Each variant minus the first, paired by replication: ``mean``, ``low``, ``high`` per variant."""
        missing = pd.Series(math.nan, index=self.base.per_replication.index)
        reference = self.base.per_replication.get(metric, missing)  # a variant may lack a metric
        rows = {}
        for name, experiment in list(self.experiments.items())[1:]:
            values = experiment.per_replication.get(metric, missing)
            paired = (values - reference).dropna().to_numpy()
            mean, half = confidence_interval(paired, level)
            rows[name] = {"mean": mean, "low": mean - half, "high": mean + half}
        return pd.DataFrame.from_dict(rows, orient="index", columns=["mean", "low", "high"])

    def _stacked(self, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
        return pd.concat([f.assign(variant=name) for name, f in frames.items()], ignore_index=True)

    @cached_property
    def requests(self) -> pd.DataFrame:
        """Every variant's requests, with ``variant`` and ``replication`` columns."""
        return self._stacked({name: e.requests for name, e in self.experiments.items()})

    @cached_property
    def timeseries(self) -> pd.DataFrame:
        """Every variant's time series, with ``variant`` and ``replication`` columns."""
        return self._stacked({name: e.timeseries for name, e in self.experiments.items()})

    @cached_property
    def tries(self) -> pd.DataFrame:
        """Every variant's tries on guarded call edges, with ``variant`` and ``replication`` columns."""
        return self._stacked({name: e.tries for name, e in self.experiments.items()})

    @cached_property
    def breakers(self) -> pd.DataFrame:
        """Every variant's circuit-breaker state changes, with ``variant`` and ``replication`` columns."""
        return self._stacked({name: e.breakers for name, e in self.experiments.items()})

    @cached_property
    def messages(self) -> pd.DataFrame:
        """Every variant's messages (a row per message and channel), with ``variant`` and ``replication``."""
        return self._stacked({name: e.messages for name, e in self.experiments.items()})

    @cached_property
    def db_ops(self) -> pd.DataFrame:
        """Every variant's database operations, with ``variant`` and ``replication`` columns."""
        return self._stacked({name: e.db_ops for name, e in self.experiments.items()})

    @cached_property
    def scaling(self) -> pd.DataFrame:
        """Every variant's replica changes (autoscaled services), with ``variant`` and ``replication``."""
        return self._stacked({name: e.scaling for name, e in self.experiments.items()})

    @cached_property
    def versions(self) -> pd.DataFrame:
        """Every variant's replica versions (deployed services), with ``variant`` and ``replication``."""
        return self._stacked({name: e.versions for name, e in self.experiments.items()})

    @cached_property
    def deployments(self) -> pd.DataFrame:
        """Every variant's rollout events, with ``variant`` and ``replication`` columns."""
        return self._stacked({name: e.deployments for name, e in self.experiments.items()})

    def spans(self) -> pd.DataFrame:
        """Every variant's spans (large: one row per call), with ``variant`` and ``replication``."""
        return self._stacked({name: e.spans for name, e in self.experiments.items()})


def run_comparison(
    scenario: Scenario,
    variants: Sequence[str] | None = None,
    replications: int | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
    base_dir: Path | None = None,
) -> Comparison:
    """Run the base scenario and ``variants`` (default: all of them) with the same seed.

    ``variants=[]`` runs the base alone; naming variants without ``base`` runs just those.
    ``base_dir`` anchors trace files that variants name relative to the scenario file.
    """
    names = [BASE, *scenario.variants] if variants is None else list(variants)
    if not names:
        names = [BASE]
    experiments = {}
    for name in names:
        variant = scenario if name == BASE else apply_variant(scenario, name, base_dir)
        tick = None if progress is None else (lambda i, done, n=name: progress(n, i, done))
        experiments[name] = run_experiment(variant, replications=replications, seed=seed, progress=tick)
    return Comparison(experiments)
