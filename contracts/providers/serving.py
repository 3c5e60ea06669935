"""A provider running for verification: where it listens and how its states and messages are made."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pact.types import Message

from contracts.providers.states import StateTable

__all__ = ["MessageProducer", "Serving"]

MessageProducer = Callable[[], Message]
"""Produces one message as the provider would publish it (pact-python's message handler calls it)."""


@dataclass(frozen=True)
class Serving:
    """``url``: the provider's base URL; ``states``: its state handler; ``messages``: producers of the
    messages it publishes (by interaction description); ``headers``: sent with every replayed request
    in place of the pact's examples (a real bearer token for users)."""

    url: str
    states: StateTable
    messages: Mapping[str, MessageProducer] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
