"""Where a sweep's tasks run: in this process, in a pool of processes, or on a Dask cluster.

An executor has one method, ``map(fn, tasks, on_result)``: it calls ``fn(task)`` for every task,
wherever it likes, and ``on_result(task, result)`` in *this* process as each one finishes (in any
order). Tasks are self-contained (:class:`simulator.sweeps.SweepTask`) and ``fn`` is a top-level
function, so the same tasks give the same results on every executor; only the order of the
``on_result`` calls differs, and :mod:`simulator.sweeps` orders the results by task.

- :class:`InProcess` runs them one after another, here (the reference; no start-up cost).
- :class:`ProcessPool` runs them in ``workers`` processes (default: the machine's cores) started
  with the ``spawn`` method, so nothing of the parent (threads, open files) leaks into the workers
  and it behaves the same on Linux, macOS and Windows. Each worker pays for importing the
  simulator once (about a second), which a sweep of a few seconds per task amortises.
- :class:`DaskExecutor` submits them to a Dask scheduler at ``scheduler_address`` (workers there
  must have servicelab installed), or to a ``LocalCluster`` of ``workers`` single-threaded
  processes that it starts and stops itself. Dask is an optional extra: ``pip install
  'servicelab[dask]'``; without it constructing the executor raises :class:`MissingDependencyError`.

If the caller is interrupted (Ctrl-C), tasks not yet started are cancelled and the interruption
propagates; every ``on_result`` already called stays done, which is what lets a sweep journal its
finished points and resume.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol, TypeVar

__all__ = ["EXECUTORS", "DaskExecutor", "Executor", "InProcess", "MissingDependencyError", "ProcessPool"]

T = TypeVar("T")
R = TypeVar("R")
OnResult = Callable[[Any, Any], None]


class MissingDependencyError(RuntimeError):
    """An optional package that an executor needs is not installed."""


class Executor(Protocol):
    """Runs ``fn`` on every task and reports each result as it finishes."""

    def map(self, fn: Callable[[T], R], tasks: Sequence[T], on_result: Callable[[T, R], None]) -> None: ...


class InProcess:
    """One task after another in this process."""

    def map(self, fn: Callable[[T], R], tasks: Sequence[T], on_result: Callable[[T, R], None]) -> None:
        for task in tasks:
            on_result(task, fn(task))


class ProcessPool:
    """A pool of ``workers`` spawned processes (default: ``os.cpu_count()``)."""

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"a process pool needs at least 1 worker, got {workers}")
        self.workers = workers or os.cpu_count() or 1

    def map(self, fn: Callable[[T], R], tasks: Sequence[T], on_result: Callable[[T, R], None]) -> None:
        if not tasks:
            return
        context = multiprocessing.get_context("spawn")
        workers = min(self.workers, len(tasks))
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            pending: dict[Future[R], T] = {}
            try:
                pending = {pool.submit(fn, task): task for task in tasks}
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        on_result(pending.pop(future), future.result())
            except BaseException:
                for future in pending:
                    future.cancel()
                pool.shutdown(wait=False, cancel_futures=True)
                raise


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise MissingDependencyError(
            "the Dask executor needs the optional packages dask and distributed: "
            "pip install 'servicelab[dask]'"
        ) from None
    return distributed


class DaskExecutor:
    """Tasks on a Dask cluster: the scheduler at ``scheduler_address``, or a LocalCluster started here.

    A LocalCluster has ``workers`` processes (default: the machine's cores) of one thread each: the
    simulator is pure Python, so threads would only share one interpreter lock.
    """

    def __init__(self, scheduler_address: str | None = None, workers: int | None = None) -> None:
        self.distributed = _import_distributed()
        self.scheduler_address = scheduler_address
        self.workers = workers or os.cpu_count() or 1

    def map(self, fn: Callable[[T], R], tasks: Sequence[T], on_result: Callable[[T, R], None]) -> None:
        if not tasks:
            return
        distributed = self.distributed
        cluster = None
        if self.scheduler_address is None:
            cluster = distributed.LocalCluster(
                n_workers=min(self.workers, len(tasks)),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
        try:
            with distributed.Client(cluster or self.scheduler_address) as client:
                futures = {}
                try:
                    for task in tasks:
                        futures[client.submit(fn, task, pure=False)] = task
                    for future in distributed.as_completed(list(futures)):
                        on_result(futures[future], future.result())
                except BaseException:
                    client.cancel(list(futures))
                    raise
        finally:
            if cluster is not None:
                cluster.close()


EXECUTORS = {"inprocess": InProcess, "processes": ProcessPool, "dask": DaskExecutor}
"""The executors by the name the command line uses."""
