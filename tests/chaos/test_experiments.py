"""The experiments shipped in chaos/experiments: all valid, and run against a real stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.hook import ChaosHook
from chaos.run import load_experiment_file, run_experiment_file
from live.supervisor import Stack
from tests.live.conftest import running_stack

EXPERIMENTS = Path(__file__).parents[2] / "chaos" / "experiments"


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*.yaml")), ids=lambda path: path.stem)
def test_every_shipped_experiment_is_valid_and_rolls_back(path: Path) -> None:
    experiment = load_experiment_file(path)
    assert experiment["steady-state-hypothesis"]["probes"]
    assert experiment["rollbacks"], "a fault with nothing to undo it"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("experiments"), hooks=[ChaosHook()]) as started:
        yield started


def _outputs(journal: dict) -> dict[str, object]:
    return {run["activity"]["name"]: run.get("output") for run in journal["run"]}


@pytest.mark.live
@pytest.mark.slow
@pytest.mark.xdist_group("stack")
def test_no_data_loss_2000_orders_while_every_edge_resets_stalls_and_lags(stack: Stack) -> None:
    journal, verdict = run_experiment_file(EXPERIMENTS / "no-data-loss.yaml", stack.state_dir)
    placed = _outputs(journal)["place-2000-orders"]
    assert verdict.passed, verdict.message
    assert placed["orders"] == 2000
    assert placed["acknowledged"] >= 1900  # the hypothesis proves them all there once; most must be
    after = {p["activity"]["name"]: p["output"] for p in journal["steady_states"]["after"]["probes"]}
    assert after == {
        "orders-is-ready": True,
        "acknowledged-orders-missing": 0,
        "orders-held-twice": 0,
        "stock-discrepancies": 0,
    }
    assert [run["status"] for run in journal["rollbacks"]] == ["succeeded", "succeeded"]


@pytest.mark.live
@pytest.mark.slow
@pytest.mark.xdist_group("stack")
@pytest.mark.parametrize(
    ("name", "passes"),
    [
        ("registry-outage", True),
        ("config-service-down", True),
        ("kill-instance-behind-gateway", True),
        ("reset-and-timeouts-every-edge", True),
        ("bandwidth-large-response", True),
        ("latency-orders-inventory-no-breaker", False),  # the lesson: without a breaker users wait
        ("latency-orders-inventory-breaker", True),
    ],
)
def test_the_shipped_experiments_end_as_their_descriptions_say(stack: Stack, name: str, passes: bool) -> None:
    journal, verdict = run_experiment_file(EXPERIMENTS / f"{name}.yaml", stack.state_dir)
    assert verdict.passed is passes, verdict.message
    assert all(run["status"] == "succeeded" for run in journal["rollbacks"])
    if not passes:
        assert journal["deviated"] is True
        assert "violated after the method" in verdict.message
