"""Executors: the same sweep gives identical tables in this process, in a pool of two spawned
processes and on a Dask LocalCluster (the tasks are self-contained and seeded, so only the order in
which results arrive may differ, and the sweep orders them by task)."""

from __future__ import annotations

import builtins
import os
from typing import Any

import pandas.testing as pdt
import pytest

from simulator import scenario_from_dict
from simulator.executors import EXECUTORS, DaskExecutor, InProcess, MissingDependencyError, ProcessPool
from simulator.sweeps import plan_sweep, run_sweep
from tests.conftest import require

SMALL = scenario_from_dict(
    {
        "name": "small",
        "duration": "10s",
        "warmup": "1s",
        "seed": 4,
        "replications": 2,
        "services": {"api": {"replicas": 1, "service_time": {"dist": "exponential", "mean": "10ms"}}},
        "routes": {"main": [{"call": "api"}]},
        "workloads": [{"route": "main", "arrivals": {"process": "poisson", "rate": "50/s"}}],
    }
)
PARAMS = ["services.api.replicas=1..2", "workload.rate=40/s,70/s"]


def _square(x: int) -> int:
    return x * x


def test_in_process_reports_every_result_in_order() -> None:
    seen: list[tuple[int, int]] = []
    InProcess().map(_square, [1, 2, 3], lambda task, result: seen.append((task, result)))
    assert seen == [(1, 1), (2, 4), (3, 9)]


def test_process_pool_defaults_to_the_cores_and_refuses_zero_workers() -> None:
    assert ProcessPool().workers == (os.cpu_count() or 1)
    with pytest.raises(ValueError, match="at least 1 worker"):
        ProcessPool(0)
    assert set(EXECUTORS) == {"inprocess", "processes", "dask"}


def test_dask_executor_without_dask_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_distributed(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "distributed" or name.startswith("distributed."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_distributed)
    with pytest.raises(MissingDependencyError, match=r"pip install 'servicelab\[dask\]'"):
        DaskExecutor()


@pytest.mark.slow
def test_the_same_sweep_is_identical_in_process_in_a_pool_and_on_dask() -> None:
    """Spawning two processes and a LocalCluster costs several seconds on a shared machine: slow."""
    require(module="distributed")
    tasks = plan_sweep(SMALL, PARAMS)
    here = run_sweep(tasks, InProcess())
    pooled = run_sweep(tasks, ProcessPool(2))
    on_dask = run_sweep(tasks, DaskExecutor(workers=2))
    pdt.assert_frame_equal(here.results, pooled.results)
    pdt.assert_frame_equal(here.results, on_dask.results)
    pdt.assert_frame_equal(here.summary, on_dask.summary)
