"""servicelab's discrete-event simulator: scenarios in, validated numbers, tables and plots out.

For notebooks: ``simulator.run(path)``, ``simulator.compare(path, baseline=...)`` and
``simulator.sweep(path, params=[...])`` (see :mod:`simulator.api`).
"""

from simulator.api import CompareResults, RunResults, SweepResults, compare, run, sweep
from simulator.engine import simulate
from simulator.errors import Problem, ScenarioError
from simulator.experiment import Experiment, run_experiment
from simulator.loader import apply_variant, load_scenario, parse_scenario, scenario_from_dict
from simulator.records import RunResult
from simulator.scenario import Scenario

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
