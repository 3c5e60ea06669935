"""A load run's summary as a table a person reads, beside a simulation's if given.

The rows and units are the simulator's own (:func:`simulator.tables.headline_rows`: throughput,
error rate, latency mean and percentiles in ms, then the outcome shares that occur), so a live run
and the simulated prediction of it sit in adjacent columns.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from rich.table import Table

from simulator.tables import format_interval, headline_rows, metric_row

__all__ = ["LAG_WARNING", "generator_note", "summary_table"]

LAG_WARNING = 0.010
"""Seconds of p99 send lag above which the generator, not the system, may shape the figures."""


def summary_table(summaries: Mapping[str, pd.DataFrame], title: str = "load") -> Table:
    """One column per summary (``{"live": load_summary(result), "simulated": ...}``), one row per
    headline metric, with its unit."""
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("unit")
    for name in summaries:
        table.add_column(name, justify="right")
    for key, (label, unit, scale) in headline_rows(list(summaries.values())).items():
        table.add_row(label, unit, *(format_interval(metric_row(s, key), scale) for s in summaries.values()))
    return table


def generator_note(metrics: Mapping[str, float]) -> str:
    """A line on how the generator kept its schedule (:func:`~live.loadgen.results.generator_metrics`),
    with a warning when it dropped requests or lagged by more than :data:`LAG_WARNING`."""
    note = (
        f"generator: {metrics['dropped']:.1%} dropped, send lag p99 {metrics['lag_p99'] * 1e3:.1f} ms "
        f"(max {metrics['lag_max'] * 1e3:.1f} ms)"
    )
    if metrics["dropped"] > 0:
        note += " -- raise max in flight or lower the rate: dropped requests were never sent"
    elif metrics["lag_p99"] > LAG_WARNING:
        note += " -- the generator itself fell behind; its lag is part of the latencies"
    return note
