"""servicelab's discrete-event simulator: scenarios in, validated numbers, tables and plots out.

For notebooks: ``simulator.run(path)``, ``simulator.compare(path, baseline=...)`` and
``simulator.sweep(path, params=[...])`` (see :mod:`simulator.api`).

The names below are imported on first use (PEP 562), so importing one light module of the package
(``simulator.otlp``, ``simulator.units``: the live stack does) does not pull in pandas and SciPy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.api import CompareResults, RunResults, SweepResults, compare, run, sweep
    from simulator.engine import simulate
    from simulator.errors import Problem, ScenarioError
    from simulator.experiment import Experiment, run_experiment
    from simulator.loader import apply_variant, load_scenario, parse_scenario, scenario_from_dict
    from simulator.records import RunResult
    from simulator.scenario import Scenario

_HOMES = {
    "CompareResults": "simulator.api",
    "RunResults": "simulator.api",
    "SweepResults": "simulator.api",
    "compare": "simulator.api",
    "run": "simulator.api",
    "sweep": "simulator.api",
    "simulate": "simulator.engine",
    "Problem": "simulator.errors",
    "ScenarioError": "simulator.errors",
    "Experiment": "simulator.experiment",
    "run_experiment": "simulator.experiment",
    "apply_variant": "simulator.loader",
    "load_scenario": "simulator.loader",
    "parse_scenario": "simulator.loader",
    "scenario_from_dict": "simulator.loader",
    "RunResult": "simulator.records",
    "Scenario": "simulator.scenario",
}

__all__ = [
    "CompareResults",
    "Experiment",
    "Problem",
    "RunResult",
    "RunResults",
    "Scenario",
    "ScenarioError",
    "SweepResults",
    "apply_variant",
    "compare",
    "load_scenario",
    "parse_scenario",
    "run",
    "run_experiment",
    "scenario_from_dict",
    "simulate",
    "sweep",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'simulator' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
