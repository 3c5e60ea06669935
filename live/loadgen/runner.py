"""The open-loop engine: every request of a plan goes out at its scheduled time, whatever came back.

The plan (:mod:`live.loadgen.schedule`) fixes the send times before the run. One loop walks them,
sleeping until each is due, and launches the request as a task of its own; it never waits for an
answer, so a slow system meets the same arrivals a fast one does (no coordinated omission). Latency
is measured from the *scheduled* time; the time the task actually started is recorded as ``sent``, so
the generator's own lag shows (and counts against the system, as it would for a user). Each request
starts a trace of its own (:mod:`live.loadgen.tracing`).

Bounds: the plan's length and horizon; ``max_in_flight`` (a request due while that many are
unanswered is recorded as ``dropped_by_generator`` and not sent -- queueing it would shift the
schedule); a per-request ``timeout`` (from the moment it is sent); and the HTTP connection pool
(``connections``, by default as large as ``max_in_flight``, so the pool never makes a request wait
for a connection). The run lasts at most the horizon plus the timeout, after the setup.

An :data:`Action` is an async callable that makes one request with the run's aiohttp session and
returns the final HTTP status (it reads the body, so the latency covers the whole answer). A
:data:`Setup` prepares the actions once before the clock starts (signing up, logging in) and returns
them by name; tests pass actions against a small server of their own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import aiohttp
import numpy as np
import pandas as pd

from live.loadgen.outcomes import DROPPED, LIVE_OUTCOMES, outcome_of_status
from live.loadgen.progress import Counts, Report, progress_bar
from live.loadgen.results import COLUMNS, LoadResult
from live.loadgen.schedule import Plan
from live.loadgen.tracing import add_traceparent, start_trace

__all__ = ["SETUP_TIMEOUT", "Action", "Limits", "Setup", "SetupError", "run_load", "run_plan"]

Action = Callable[[aiohttp.ClientSession], Awaitable[int]]
Setup = Callable[[aiohttp.ClientSession], Awaitable[Mapping[str, Action]]]
SETUP_TIMEOUT = 30.0
"""Seconds the setup may take before the run gives up."""
REPORT_EVERY = 0.1
"""Seconds between progress reports."""


class SetupError(Exception):
    """The actions could not be prepared (the message says which step failed and how)."""


@dataclass(frozen=True)
class Limits:
    """How much the generator may have going at once and how long it waits for an answer."""

    max_in_flight: int = 500
    timeout: float = 10.0
    """Seconds from sending a request to giving up on it (outcome ``timeout``)."""
    connections: int | None = None
    """Size of the HTTP connection pool; None: ``max_in_flight``."""

    def __post_init__(self) -> None:
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {self.max_in_flight}")
        if not self.timeout > 0:
            raise ValueError(f"the request timeout must be positive, got {self.timeout!r}")
        if self.connections is not None and self.connections < 1:
            raise ValueError(f"connections must be at least 1, got {self.connections}")


class _Run:
    """The rows of one run, filled in as requests are dropped or finish."""

    def __init__(self, plan: Plan, actions: Mapping[str, Action], limits: Limits) -> None:
        self.plan, self.actions, self.limits = plan, actions, limits
        n = len(plan)
        self.sent, self.latency = np.full(n, np.nan), np.full(n, np.nan)
        self.status = np.zeros(n, dtype=np.int32)
        self.outcome, self.error, self.trace_id = [DROPPED] * n, [""] * n, [""] * n
        self.counts = Counts()
        self.start, self.started_ns = 0.0, 0

    async def send_all(self, session: aiohttp.ClientSession) -> None:
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[None]] = set()
        self.start, self.started_ns = loop.time(), time.time_ns()
        for index, (offset, name) in enumerate(zip(self.plan.times.tolist(), self.plan.actions, strict=True)):
            await asyncio.sleep(max(0.0, self.start + offset - loop.time()))  # 0: yield to the requests
            if self.counts.in_flight >= self.limits.max_in_flight:
                self.error[index] = f"{self.limits.max_in_flight} requests already in flight"
                self.counts.dropped += 1
                continue
            self.counts.in_flight += 1
            task = asyncio.create_task(self.send(index, self.actions[name], session))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks)

    async def send(self, index: int, action: Action, session: aiohttp.ClientSession) -> None:
        loop = asyncio.get_running_loop()
        self.sent[index] = loop.time() - self.start
        self.trace_id[index] = start_trace()
        try:
            async with asyncio.timeout(self.limits.timeout):
                status = await action(session)
            self.status[index], self.outcome[index] = status, outcome_of_status(status)
        except TimeoutError:
            self.outcome[index], self.error[index] = "timeout", f"no answer within {self.limits.timeout:g} s"
        except Exception as exc:  # a request's failure is a row of the results, never the run's end
            self.outcome[index], self.error[index] = "error", _describe(exc)
        finally:
            self.latency[index] = loop.time() - self.start - self.plan.times[index]
            self.counts.in_flight -= 1
            self.counts.finished += 1

    def result(self) -> LoadResult:
        frame = pd.DataFrame(
            {
                "request": np.arange(len(self.plan)),
                "action": pd.Categorical(self.plan.actions),
                "scheduled": self.plan.times,
                "sent": self.sent,
                "latency": self.latency,
                "status": self.status,
                "outcome": pd.Categorical(self.outcome, categories=LIVE_OUTCOMES),
                "error": self.error,
                "trace_id": self.trace_id,
            },
            columns=list(COLUMNS),
        )
        return LoadResult(requests=frame, horizon=self.plan.horizon, started_ns=self.started_ns)


async def _prepare(setup: Setup, session: aiohttp.ClientSession, plan: Plan) -> Mapping[str, Action]:
    try:
        async with asyncio.timeout(SETUP_TIMEOUT):
            actions = await setup(session)
    except TimeoutError:
        raise SetupError(f"the setup did not finish within {SETUP_TIMEOUT:g} s") from None
    except aiohttp.ClientError as exc:
        raise SetupError(f"the setup failed: {_describe(exc)}") from None
    missing = sorted(set(plan.actions) - set(actions))
    if missing:
        raise SetupError(f"the plan uses actions the setup does not provide: {', '.join(missing)}")
    return actions


async def _report_every(counts: Counts, report: Report) -> None:
    while True:
        report(counts)
        await asyncio.sleep(REPORT_EVERY)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def run_plan(
    plan: Plan, setup: Setup, limits: Limits | None = None, report: Report | None = None
) -> LoadResult:
    """Run ``setup``, then send every request of ``plan`` on schedule; the rows of every request.

    ``report``, if given, is called with the counts every :data:`REPORT_EVERY` seconds. Raises
    :class:`SetupError` when the setup fails (nothing has been sent then).
    """
    limits = limits or Limits()
    connector = aiohttp.TCPConnector(limit=limits.connections or limits.max_in_flight)
    async with aiohttp.ClientSession(connector=connector, middlewares=(add_traceparent,)) as session:
        run = _Run(plan, await _prepare(setup, session, plan), limits)
        ticker = asyncio.create_task(_report_every(run.counts, report)) if report else None
        try:
            await run.send_all(session)
        finally:
            if ticker is not None:
                ticker.cancel()
                report(run.counts)
    return run.result()


def run_load(plan: Plan, setup: Setup, limits: Limits | None = None, *, progress: bool = False) -> LoadResult:
    """:func:`run_plan` on a fresh event loop, with a rich progress bar on stderr if ``progress``."""
    if not progress:
        return asyncio.run(run_plan(plan, setup, limits))
    with progress_bar(len(plan)) as report:
        return asyncio.run(run_plan(plan, setup, limits, report))
