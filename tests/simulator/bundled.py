"""The scenarios shipped in ``simulator/scenarios``, as the tests load them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from simulator import Scenario, scenario_from_dict
from simulator.loader import merge_overrides
from simulator.records import Recorder

SCENARIOS = Path(__file__).resolve().parents[2] / "simulator" / "scenarios"


def bundled(name: str, **overrides: Any) -> Scenario:
    """Bundled scenario ``name`` with ``overrides`` deep-merged in (variants kept), as a variant would be."""
    path = SCENARIOS / f"{name}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return scenario_from_dict(merge_overrides(data, overrides), base_dir=path.parent)


def span_codes_before_span_ids(recorder: Recorder) -> bytes:
    """The recorder's span codes without the ``span`` and ``parent`` columns (added by issue 6), as
    the bytes that digests taken before then were computed from."""
    rows = np.frombuffer(recorder.span_codes, dtype=np.int64).reshape(-1, len(recorder.SPAN_CODES))
    kept = [i for i, name in enumerate(recorder.SPAN_CODES) if name not in ("span", "parent")]
    return np.ascontiguousarray(rows[:, kept]).tobytes()
