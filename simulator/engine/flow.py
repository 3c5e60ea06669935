"""Control flow of a route: sequences, loops, parallel fan-out with a join, probabilistic branches."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from simulator.engine.protocols import Continuation, Plan

if TYPE_CHECKING:
    from simulator.engine.sources import Request

__all__ = ["BranchNode", "LoopNode", "ParallelNode", "SequenceNode"]


class _SequenceFrame:
    """A ``sequence`` in progress: starts the next step when one ends; a failed step ends it."""

    __slots__ = ("index", "k", "request", "span", "steps")

    def __init__(self, steps: list[Plan], request: Request, k: Continuation) -> None:
        self.steps, self.request, self.k, self.index = steps, request, k, 0
        self.span = k.span  # the call it runs inside: the parent of the calls it makes

    def resume(self, ok: bool) -> None:
        self.index += 1
        if not ok or self.index == len(self.steps):
            self.k.resume(ok)
        else:
            self.steps[self.index].start(self.request, self)


class SequenceNode:
    __slots__ = ("steps",)

    def __init__(self, steps: list[Plan]) -> None:
        self.steps = steps

    def start(self, request: Request, k: Continuation) -> None:
        self.steps[0].start(request, _SequenceFrame(self.steps, request, k))


class _LoopFrame:
    """A ``loop`` in progress: counts the runs of its body and decides whether to go round again."""

    __slots__ = ("k", "loop", "request", "runs", "span")

    def __init__(self, loop: LoopNode, request: Request, k: Continuation) -> None:
        self.loop, self.request, self.k, self.runs = loop, request, k, 1
        self.span = k.span

    def resume(self, ok: bool) -> None:
        loop = self.loop
        if ok and (self.runs < loop.times or (loop.repeat and loop.coin() < loop.repeat)):
            self.runs += 1
            loop.body.start(self.request, self)
        else:
            self.k.resume(ok)


class LoopNode:
    """``times`` runs of the body, then more while a coin with ``repeat_probability`` says so."""

    __slots__ = ("body", "coin", "repeat", "times")

    def __init__(self, body: Plan, times: int, repeat: float, coin: Callable[[], float]) -> None:
        self.body, self.times, self.repeat, self.coin = body, times, repeat, coin

    def start(self, request: Request, k: Continuation) -> None:
        self.body.start(request, _LoopFrame(self, request, k))


class _Fork:
    __slots__ = ("k", "ok", "pending", "span")

    def __init__(self, k: Continuation, pending: int) -> None:
        self.k, self.pending, self.ok = k, pending, True
        self.span = k.span

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
