"""The scenarios shipped in ``simulator/scenarios``, as the tests load them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from simulator import Scenario, scenario_from_dict
from simulator.loader import merge_overrides

SCENARIOS = Path(__file__).resolve().parents[2] / "simulator" / "scenarios"


def bundled(name: str, **overrides: Any) -> Scenario:
    """Bundled scenario ``name`` with ``overrides`` deep-merged in (variants kept), as a variant would be."""
    path = SCENARIOS / f"{name}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return scenario_from_dict(merge_overrides(data, overrides), base_dir=path.parent)
