"""servicelab's discrete-event simulator: scenarios in, validated numbers, tables and plots out."""

from simulator.engine import simulate
from simulator.errors import Problem, ScenarioError
from simulator.experiment import Experiment, run_experiment
from simulator.loader import apply_variant, load_scenario, parse_scenario, scenario_from_dict
from simulator.records import RunResult
from simulator.scenario import Scenario

__all__ = [
    "Experiment",
    "Problem",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "apply_variant",
    "load_scenario",
    "parse_scenario",
    "run_experiment",
    "scenario_from_dict",
    "simulate",
]
