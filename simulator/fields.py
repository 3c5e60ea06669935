"""Field types shared by the scenario schema: human-unit durations and rates, probabilities.

Every schema model derives from :class:`StrictModel`, which refuses unknown keys so that a typo in a
scenario (``replica: 3``) is reported instead of silently ignored.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from simulator.units import parse_duration, parse_rate

__all__ = ["Duration", "PositiveDuration", "Probability", "Rate", "StrictModel"]


class StrictModel(BaseModel):
    """Base of every scenario model: unknown keys are errors and instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0, allow_inf_nan=False)]
"""A finite, non-negative duration in seconds, written as ``"250ms"``, ``"2s"`` or a number of seconds."""

PositiveDuration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0, allow_inf_nan=False)]
"""A duration in seconds that must be strictly positive."""

Rate = Annotated[float, BeforeValidator(parse_rate), Field(ge=0, allow_inf_nan=False)]
"""A non-negative rate in events per second, written as ``"500/s"``, ``"30/min"`` or a number."""

Probability = Annotated[float, Field(ge=0, le=1)]
