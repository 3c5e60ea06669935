"""Variants of a scenario, run side by side on the same random numbers.

Every variant is replicated with the same seed, so replication ``i`` of each variant sees the same
arrivals and service demands wherever the variant did not change them (common random numbers).
Differences between variants are therefore *paired*: :meth:`Comparison.differences` takes the
difference per replication before averaging, which cancels most of the noise the variants share
and gives much tighter intervals than comparing two independent summaries.

Any variant can be the *baseline* the others are measured against (by default the first, which is
the scenario as written when it ran). :meth:`Comparison.paired` gives the tidy table of ``sim
compare``: per variant and headline metric the mean paired difference, its 95% interval, the change
relative to the baseline's mean, and whether it is *significant*: the paired interval excludes 0.

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

__all__ = ["BASE", "COMPARED", "Comparison", "UnknownVariantError", "run_comparison", "select_variants"]

COMPARED = ("latency_mean", "latency_p99", "error_rate", "throughput", "cost")
"""The metrics ``sim compare`` reports differences of (``cost`` only when some variant prices replicas)."""


class UnknownVariantError(ValueError):
    """A variant name (to run, or as the baseline) that the scenario does not define."""


Progress = Callable[[str, int, float], None]
"""Called with (variant, replication index, fraction of that replication done)."""


@dataclass
class Comparison:
    """The experiments of several variants, keyed by variant name in the order they were run."""

    experiments: dict[str, Experiment]
    baseline: str | None = None
    """The variant the others are compared with; None means the first."""

    def __post_init__(self) -> None:
        if self.baseline is not None and self.baseline not in self.experiments:
            raise UnknownVariantError(
                f"baseline {self.baseline!r} is not among the variants run: {', '.join(self.experiments)}"
            )

    @property
    def names(self) -> list[str]:
        return list(self.experiments)

    @property
    def reference(self) -> str:
        """The name of the baseline: :attr:`baseline`, or the first variant run."""
        return self.baseline if self.baseline is not None else self.names[0]

    @property
    def others(self) -> list[str]:
        """The variants compared with the baseline, in the order they were run."""
        return [name for name in self.names if name != self.reference]

    @property
    def base(self) -> Experiment:
        """The baseline's experiment: the reference the others are compared with."""
        return self.experiments[self.reference]

    @cached_property
    def summary(self) -> pd.DataFrame:
        """Rows ``(variant, metric)``, columns ``mean``, ``low``, ``high``, ``n``."""
        return pd.concat(
            {name: e.summary for name, e in self.experiments.items()}, names=["variant", "metric"]
        )

    def differences(self, metric: str, level: float = 0.95) -> pd.DataFrame:
        """Each variant minus the baseline, paired by replication: ``mean``, ``low``, ``high`` per variant."""
        missing = pd.Series(math.nan, index=self.base.per_replication.index)
        reference = self.base.per_replication.get(metric, missing)  # a variant may lack a metric
        rows = {}
        for name in self.others:
            values = self.experiments[name].per_replication.get(metric, missing)
            paired = (values - reference).dropna().to_numpy()
            mean, half = confidence_interval(paired, level)
            rows[name] = {"mean": mean, "low": mean - half, "high": mean + half}
        return pd.DataFrame.from_dict(rows, orient="index", columns=["mean", "low", "high"])

    def compared_metrics(self) -> list[str]:
        """:data:`COMPARED`, without ``cost`` when no variant has any (nothing has a price)."""
        costs = [e.per_replication.get("cost", pd.Series(0.0)) for e in self.experiments.values()]
        priced = any((cost > 0).any() for cost in costs)
        return [metric for metric in COMPARED if metric != "cost" or priced]

    def paired(self, metrics: Sequence[str] | None = None, level: float = 0.95) -> pd.DataFrame:
        """The tidy table of paired differences from the baseline, one row per (variant, metric).

        Columns: ``variant``, ``metric``, ``baseline`` (the baseline's mean), ``difference`` (mean of
        the per-replication differences, variant minus baseline, in the metric's unit), ``low`` and
        ``high`` (its confidence interval at ``level``), ``relative`` (difference over the baseline's
        mean; NaN when that is 0) and ``significant`` (the interval excludes 0; False when it cannot
        be computed, e.g. from a single replication).
        """
        rows = []
        for metric in metrics or self.compared_metrics():
            table = self.differences(metric, level)
            reference = self.base.per_replication.get(metric, pd.Series(dtype=float))
            baseline = confidence_interval(reference.to_numpy(), level)[0]
            for name in self.others:
                mean, low, high = table.loc[name, ["mean", "low", "high"]]
                rows.append(
                    {
                        "variant": name,
                        "metric": metric,
                        "baseline": baseline,
                        "difference": mean,
                        "low": low,
                        "high": high,
                        "relative": mean / baseline if baseline else math.nan,
                        "significant": bool(low > 0 or high < 0),  # False when NaN
                    }
                )
        columns = ["variant", "metric", "baseline", "difference", "low", "high", "relative", "significant"]
        return pd.DataFrame(rows, columns=columns)

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


def select_variants(
    scenario: Scenario, variants: Sequence[str] | None = None, baseline: str | None = None
) -> list[str]:
    """The variants to run, in order: ``variants`` (default ``base`` and every variant; none: ``base``),
    with ``baseline`` put first when it is not among them. Raises :class:`UnknownVariantError` naming the
    known variants when a name is not ``base`` or one of the scenario's variants."""
    known = [BASE, *scenario.variants]
    names = known if variants is None else list(dict.fromkeys(variants)) or [BASE]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UnknownVariantError(f"no variant {unknown[0]!r}; known: {', '.join(known)}")
    if baseline is not None and baseline not in known:
        raise UnknownVariantError(f"no variant {baseline!r} to compare with; known: {', '.join(known)}")
    if baseline is not None and baseline not in names:
        names.insert(0, baseline)
    return names


def run_comparison(
    scenario: Scenario,
    variants: Sequence[str] | None = None,
    replications: int | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
    base_dir: Path | None = None,
    baseline: str | None = None,
) -> Comparison:
    """Run the base scenario and ``variants`` (default: all of them) with the same seed.

    ``variants=[]`` runs the base alone; naming variants without ``base`` runs just those.
    ``baseline`` (default: the first variant run) is the variant differences are taken from; it is
    run first when ``variants`` leaves it out. ``base_dir`` anchors trace files that variants name
    relative to the scenario file.
    """
    names = select_variants(scenario, variants, baseline)
    experiments = {}
    for name in names:
        variant = scenario if name == BASE else apply_variant(scenario, name, base_dir)
        tick = None if progress is None else (lambda i, done, n=name: progress(n, i, done))
        experiments[name] = run_experiment(variant, replications=replications, seed=seed, progress=tick)
    return Comparison(experiments, baseline)
