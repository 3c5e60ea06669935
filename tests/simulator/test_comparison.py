"""Variants side by side: selection, paired differences, stacked frames."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from simulator import Experiment, scenario_from_dict
from simulator.comparison import Comparison, UnknownVariantError, run_comparison, select_variants
from simulator.summary import confidence_interval

SCENARIO: dict[str, Any] = {
    "name": "cmp",
    "duration": "60s",
    "warmup": "5s",
    "seed": 3,
    "replications": 6,
    "services": {"server": {"concurrency": 2, "service_time": {"dist": "exponential", "mean": "30ms"}}},
    "routes": {"main": [{"call": "server"}]},
    "workloads": [{"route": "main", "arrivals": {"process": "poisson", "rate": "50/s"}}],
    "variants": {
        "faster": {"services": {"server": {"service_time": {"mean": "27ms"}}}},
        "wider": {"services": {"server": {"concurrency": 3}}},
    },
}


@pytest.fixture(scope="module")
def comparison() -> Any:
    return run_comparison(scenario_from_dict(SCENARIO))


def test_base_and_every_variant_run_in_order(comparison: Any) -> None:
    assert comparison.names == ["base", "faster", "wider"]
    assert comparison.experiments["wider"].scenario.services["server"].concurrency == 3
    assert list(comparison.summary.index.get_level_values("variant").unique()) == comparison.names


def test_selected_variants_only() -> None:
    only = run_comparison(scenario_from_dict(SCENARIO), ["wider"], replications=1)
    assert only.names == ["wider"]


def test_paired_differences_are_sharper_than_independent_ones(comparison: Any) -> None:
    """Common random numbers: a 10% faster server is detected by the paired difference.

    The paired interval must exclude zero, and be much narrower than the interval an unpaired
    comparison of the two summaries would give (sum of the two half-widths): under half of it.
    """
    paired = comparison.differences("latency_mean").loc["faster"]
    assert paired["high"] < 0
    base = comparison.experiments["base"].per_replication["latency_mean"].to_numpy()
    faster = comparison.experiments["faster"].per_replication["latency_mean"].to_numpy()
    unpaired_half = confidence_interval(base)[1] + confidence_interval(faster)[1]
    assert (paired["high"] - paired["low"]) / 2 < unpaired_half / 2
    np.testing.assert_allclose(paired["mean"], (faster - base).mean())


def test_stacked_frames_carry_the_variant(comparison: Any) -> None:
    requests = comparison.requests
    assert list(dict.fromkeys(requests["variant"])) == comparison.names
    # Same seed, same arrivals: every variant saw the same number of requests.
    counts = requests.groupby(["variant", "replication"]).size().unstack("variant")
    assert (counts.nunique(axis=1) == 1).all()
    assert set(comparison.timeseries["variant"]) == set(comparison.names)


def test_any_variant_can_be_the_baseline(comparison: Any) -> None:
    """Differences from ``wider`` are the negatives of differences to it from the others' view."""
    from_base = comparison.differences("latency_mean")
    rebased = Comparison(comparison.experiments, baseline="wider")
    assert rebased.reference == "wider"
    assert rebased.others == ["base", "faster"]
    from_wider = rebased.differences("latency_mean")
    np.testing.assert_allclose(from_wider.loc["base", "mean"], -from_base.loc["wider", "mean"])
    np.testing.assert_allclose(from_wider.loc["base", "high"], -from_base.loc["wider", "low"])
    tidy = rebased.paired(["latency_mean"])
    assert list(tidy["variant"]) == ["base", "faster"]
    base_mean = comparison.experiments["wider"].per_replication["latency_mean"].mean()
    np.testing.assert_allclose(tidy["baseline"], base_mean)
    np.testing.assert_allclose(tidy["relative"], tidy["difference"] / base_mean)


def test_a_baseline_that_did_not_run_is_refused(comparison: Any) -> None:
    with pytest.raises(UnknownVariantError, match="'nope' is not among the variants run"):
        Comparison(comparison.experiments, baseline="nope")


@pytest.mark.parametrize(
    ("variants", "baseline", "expected"),
    [
        (None, None, ["base", "faster", "wider"]),
        ([], None, ["base"]),
        (["wider"], "base", ["base", "wider"]),  # the baseline runs first when left out
        (["faster", "wider"], "wider", ["faster", "wider"]),
    ],
)
def test_select_variants(variants: list[str] | None, baseline: str | None, expected: list[str]) -> None:
    assert select_variants(scenario_from_dict(SCENARIO), variants, baseline) == expected


@pytest.mark.parametrize(("variants", "baseline"), [(["fast"], None), (None, "fast")])
def test_select_variants_names_the_known_ones(variants: list[str] | None, baseline: str | None) -> None:
    with pytest.raises(UnknownVariantError, match=r"no variant 'fast'.*known: base, faster, wider"):
        select_variants(scenario_from_dict(SCENARIO), variants, baseline)


def _with_metric(values: list[float]) -> Experiment:
    """An experiment whose replications measured ``values`` of ``latency_mean`` (no simulation)."""
    experiment = Experiment(scenario_from_dict(SCENARIO), seed=0, results=[])
    experiment.__dict__["per_replication"] = pd.DataFrame({"latency_mean": values})  # the cached value
    return experiment


@pytest.mark.parametrize("level", [0.5, 0.8, 0.95, 0.99])
def test_significance_is_whether_the_paired_interval_excludes_zero(level: float) -> None:
    """Paired differences 1, 2, 3 (mean 2, standard error 1/sqrt(3)) are significant at 50% and 80%
    (half-widths 0.47, 1.10) but not at 95% or 99% (2.48, 5.73: Student t with 2 degrees of freedom);
    differences -1.1, -1.0, -0.9 are significant at every level (half-width at 99%: 0.57)."""
    comparison = Comparison(
        {
            "base": _with_metric([10.0, 10.0, 10.0]),
            "noisy": _with_metric([11.0, 12.0, 13.0]),
            "better": _with_metric([8.9, 9.0, 9.1]),
        }
    )
    table = comparison.paired(["latency_mean"], level=level).set_index("variant")
    half = stats.t.ppf(0.5 + level / 2, df=2) / math.sqrt(3)
    np.testing.assert_allclose(table.loc["noisy", ["low", "high"]], [2 - half, 2 + half])
    assert table.loc["noisy", "significant"] == (2 - half > 0)
    assert table.loc["noisy", "significant"] == (level < 0.9)
    assert table.loc["better", "significant"]
    np.testing.assert_allclose(table.loc["better", "relative"], -0.1)


def test_one_replication_is_never_significant() -> None:
    comparison = Comparison({"base": _with_metric([1.0]), "other": _with_metric([5.0])})
    row = comparison.paired(["latency_mean"]).iloc[0]
    assert row["difference"] == 4.0
    assert not row["significant"]  # no interval from a single replication
