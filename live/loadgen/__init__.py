"""The live load generator: open-loop load on the shop's gateway, summarized like a simulation.

``mix.py`` parses ``browse=0.7,order=0.3``; ``schedule.py`` fixes the send times and actions in
advance (the simulator's arrival processes and units); ``runner.py`` sends each request at its time
with aiohttp and records it, each in a W3C trace of its own (``tracing.py``, which also writes the
generator's spans); ``outcomes.py`` names what happened in the simulator's vocabulary; ``results.py``
holds the rows and the summary (the simulator's own ``request_metrics``); ``shop.py`` has the shop's
actions and :func:`load_shop`, the one call behind ``servicelab live load``; ``table.py`` lays the
summary out with the simulator's rows and units.
"""

from live.loadgen.mix import draw_actions, parse_mix
from live.loadgen.outcomes import DROPPED, LIVE_OUTCOMES, outcome_of_status
from live.loadgen.results import COLUMNS, LoadResult, generator_metrics, load_metrics, load_summary
from live.loadgen.runner import Action, Limits, Setup, SetupError, run_load, run_plan
from live.loadgen.schedule import PROCESSES, Plan, plan_load
from live.loadgen.shop import DEFAULT_MIX, SHOP_ACTIONS, load_shop, shop_setup
from live.loadgen.table import generator_note, summary_table
from live.loadgen.tracing import write_spans

__all__ = [
    "COLUMNS",
    "DEFAULT_MIX",
    "DROPPED",
    "LIVE_OUTCOMES",
    "PROCESSES",
    "SHOP_ACTIONS",
    "Action",
    "Limits",
    "LoadResult",
    "Plan",
    "Setup",
    "SetupError",
    "draw_actions",
    "generator_metrics",
    "generator_note",
    "load_metrics",
    "load_shop",
    "load_summary",
    "outcome_of_status",
    "parse_mix",
    "plan_load",
    "run_load",
    "run_plan",
    "shop_setup",
    "summary_table",
    "write_spans",
]
