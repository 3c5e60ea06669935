"""Control flow of a route: sequences, loops, parallel fan-out with a join, probabilistic branches."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from simulator.engine.protocols import Continuation, Plan

if TYPE_CHECKING:
    from simulator.engine.sources import Request

__all__ = ["BranchNode", "LoopNode", "ParallelNode", "SequenceNode"]


class _Join:
    """Continuation of a ``sequence`` or ``loop`` in progress: starts the next part when one ends."""

    __slots__ = ("k", "left", "ok", "plan", "request")

    def __init__(self, plan: SequenceNode | LoopNode, request: Request, k: Continuation, left: int) -> None:
        self.plan, self.request, self.k, self.left, self.ok = plan, request, k, left, True

    def resume(self, ok: bool) -> None:
        self.ok = self.ok and ok
        self.plan.advance(self)


class SequenceNode:
    __slots__ = ("steps",)

    def __init__(self, steps: list[Plan]) -> None:
        self.steps = steps

    def start(self, request: Request, k: Continuation) -> None:
        frame = _Join(self, request, k, 0)
        self.steps[0].start(request, frame)

    def advance(self, frame: _Join) -> None:
        frame.left += 1
        if frame.left == len(self.steps) or not frame.ok:
            frame.k.resume(frame.ok)
        else:
            self.steps[frame.left].start(frame.request, frame)


class LoopNode:
    """``times`` runs of the body, then more while a coin with ``repeat_probability`` says so."""

    __slots__ = ("body", "coin", "repeat", "times")

    def __init__(self, body: Plan, times: int, repeat: float, coin: Callable[[], float]) -> None:
        self.body, self.times, self.repeat, self.coin = body, times, repeat, coin

    def start(self, request: Request, k: Continuation) -> None:
        self.body.start(request, _Join(self, request, k, 1))

    def advance(self, frame: _Join) -> None:
        if frame.ok and (frame.left < self.times or (self.repeat and self.coin() < self.repeat)):
            frame.left += 1
            self.body.start(frame.request, frame)
        else:
            frame.k.resume(frame.ok)


class _Fork:
    __slots__ = ("k", "ok", "pending")

    def __init__(self, k: Continuation, pending: int) -> None:
        self.k, self.pending, self.ok = k, pending, True

    def resume(self, ok: bool) -> None:
        self.ok = self.ok and ok
        self.pending -= 1
        if self.pending == 0:
            self.k.resume(self.ok)


class ParallelNode:
    __slots__ = ("branches",)

    def __init__(self, branches: list[Plan]) -> None:
        self.branches = branches

    def start(self, request: Request, k: Continuation) -> None:
        fork = _Fork(k, len(self.branches))
        for branch in self.branches:
            branch.start(request, fork)


class BranchNode:
    __slots__ = ("coin", "options")

    def __init__(self, options: list[tuple[float, Plan]], coin: Callable[[], float]) -> None:
        self.options, self.coin = options, coin

    def start(self, request: Request, k: Continuation) -> None:
        draw = self.coin()
        for upper, plan in self.options:
            if draw < upper:
                plan.start(request, k)
                return
        k.resume(True)
