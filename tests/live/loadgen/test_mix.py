"""Mix parsing (clear errors) and the action draw (independent categorical draws)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from live.loadgen.mix import draw_actions, parse_mix


def test_weights_become_probabilities() -> None:
    assert parse_mix("browse=0.7,order=0.3") == pytest.approx({"browse": 0.7, "order": 0.3})
    assert parse_mix(" browse = 7 , order = 3 ") == pytest.approx({"browse": 0.7, "order": 0.3})
    assert parse_mix("order=2", known=("browse", "order")) == {"order": 1.0}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("browse", "no '='"),
        ("=0.5", "no action name"),
        ("browse=0", "positive"),
        ("browse=-1", "positive"),
        ("browse=nan", "positive"),
        ("browse=inf", "positive"),
        ("browse=lots", "not a number"),
        ("browse=1,browse=2", "twice"),
        ("browse=1,refund=1", "unknown action 'refund'"),
    ],
)
def test_bad_mixes_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_mix(text, known=("browse", "order"))


def test_unknown_action_message_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known actions: browse, order"):
        parse_mix("buy=1", known=("order", "browse"))


def test_draw_proportions_are_binomial() -> None:
    n, p = 4000, 0.7
    actions = draw_actions(parse_mix("browse=0.7,order=0.3"), n, np.random.default_rng(7))
    browse = actions.count("browse")
    assert browse + actions.count("order") == n
    # Binomial(n, p): mean n p, standard deviation sqrt(n p (1 - p)) ~ 29; 4 sd leave a 6e-5 chance.
    assert abs(browse - n * p) < 4 * math.sqrt(n * p * (1 - p))


def test_draws_repeat_for_a_seed_and_differ_across_seeds() -> None:
    mix = {"a": 0.5, "b": 0.5}
    first = draw_actions(mix, 200, np.random.default_rng(1))
    assert first == draw_actions(mix, 200, np.random.default_rng(1))
    assert first != draw_actions(mix, 200, np.random.default_rng(2))
