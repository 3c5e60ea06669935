"""A request mix: which action each request of a load run does.

Written as ``browse=0.7,order=0.3``: action names with positive weights. Weights need not add up to
one; they are normalized into probabilities, so ``browse=7,order=3`` is the same mix. Each request of
a schedule draws its action independently from these probabilities (a categorical draw from a seeded
generator), so over n requests the count of an action with probability p is Binomial(n, p).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping

import numpy as np

__all__ = ["draw_actions", "parse_mix"]


def parse_mix(text: str, known: Collection[str] | None = None) -> dict[str, float]:
    """``"browse=0.7,order=0.3"`` -> ``{"browse": 0.7, "order": 0.3}`` (probabilities adding up to 1).

    ``known``, when given, are the only action names allowed. A ValueError names what is wrong: an
    item without ``=``, an empty or repeated name, an unknown action, a weight that is not a finite
    positive number.
    """
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        raise ValueError("the mix is empty; write action=weight pairs such as 'browse=0.7,order=0.3'")
    weights: dict[str, float] = {}
    for item in items:
        name, equals, number = (part.strip() for part in item.partition("="))
        if not equals:
            raise ValueError(f"mix item {item!r} has no '='; write action=weight, e.g. 'browse=0.7'")
        if not name:
            raise ValueError(f"mix item {item!r} has no action name before '='")
        if name in weights:
            raise ValueError(f"action {name!r} appears twice in the mix")
        if known is not None and name not in known:
            raise ValueError(f"unknown action {name!r} in the mix; known actions: {', '.join(sorted(known))}")
        try:
            weight = float(number)
        except ValueError:
            raise ValueError(f"the weight of {name!r} is {number!r}, not a number") from None
        if not math.isfinite(weight) or weight <= 0:
            raise ValueError(f"the weight of {name!r} must be a positive number, got {number!r}")
        weights[name] = weight
    total = sum(weights.values())
    return {name: weight / total for name, weight in weights.items()}


def draw_actions(mix: Mapping[str, float], n: int, rng: np.random.Generator) -> list[str]:
    """The actions of ``n`` requests, each drawn independently with the ``mix``'s probabilities."""
    names = list(mix)
    probabilities = np.fromiter(mix.values(), dtype=float, count=len(names))
    codes = rng.choice(len(names), size=n, p=probabilities / probabilities.sum())
    return [names[code] for code in codes]
