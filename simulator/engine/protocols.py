"""The two roles in a compiled route: plans that start work, continuations told when it ends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from simulator.engine.sources import Request

__all__ = ["Continuation", "Plan"]


class Continuation(Protocol):
    """Whatever waits for a piece of a route to finish: told once, with whether it succeeded.

    ``span`` is the span id of the call the piece runs inside: a new call's parent (see
    :class:`~simulator.engine.calls.Call`). Frames that wrap a continuation pass its ``span`` on.
    """

    @property
    def span(self) -> int: ...

    def resume(self, ok: bool) -> None: ...


class Plan(Protocol):
    """A compiled piece of a route: starts its work for ``request`` and tells ``k`` when it is done."""

    def start(self, request: Request, k: Continuation) -> None: ...
