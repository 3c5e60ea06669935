"""Provider states: named set-ups with parameters, each seeding the provider's own SQLite database.

A consumer writes ``given("an order exists", id="42", user="alice", status="placed")``; during
verification pact-python calls the provider's state handler with ``state="an order exists"``,
``action="setup"`` and ``parameters={"id": "42", ...}`` before replaying the interaction, and with
``action="teardown"`` after it. A :class:`StateTable` maps each state name to a function called with
the parameters as keyword arguments, so the names a consumer chose must be the function's (a mismatch
is a TypeError naming the parameter); every teardown puts the database back to its baseline, so no
interaction sees another's leftovers.

Pitfall: a state handler that *raises* makes pact-python answer the verifier's state-change call
with 500, the verifier retries it with backoff for about two minutes, and its report then says only
"One or more of the setup state change handlers has failed" -- not which, nor why. A
:class:`StateTable` therefore never raises: it records the reason in :attr:`StateTable.problems`,
and :func:`contracts.providers.verification.verify` fails the verification with those reasons.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["StateTable", "UnknownStateError"]


class UnknownStateError(KeyError):
    """A pact names a provider state the provider does not know."""


@dataclass(frozen=True)
class StateTable:
    """The provider states of ``provider``: ``setups[name](**parameters)``, ``reset()`` after each;
    ``problems``: why set-ups failed (a state unknown, a parameter missing or unexpected, an error)."""

    provider: str
    setups: Mapping[str, Callable[..., None]]
    reset: Callable[[], None]
    problems: list[str] = field(default_factory=list)

    def __call__(self, state: str, action: str, parameters: Mapping[str, Any] | None) -> None:
        """pact-python's state handler signature (parameter names matter: they are passed by name)."""
        try:
            self._change(state, action, dict(parameters or {}))
        except Exception as error:  # recorded, not raised: see the module docstring
            self.problems.append(
                f"{action} of state {state!r} {parameters or {}}: {type(error).__name__}: {error}"
            )

    def _change(self, state: str, action: str, parameters: dict[str, Any]) -> None:
        if action == "teardown":
            self.reset()
            return
        if not state:  # the generic set-up of an interaction without a state
            return
        try:
            setup = self.setups[state]
        except KeyError:
            known = ", ".join(repr(name) for name in sorted(self.setups))
            raise UnknownStateError(
                f"{self.provider} has no provider state {state!r}; known: {known}"
            ) from None
        setup(**parameters)

    def merged(self, other: StateTable) -> StateTable:
        """This table and ``other``'s states together (a provider that seeds a dependency too)."""

        def reset() -> None:
            self.reset()
            other.reset()

        return StateTable(self.provider, {**other.setups, **self.setups}, reset)
