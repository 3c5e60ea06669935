"""``servicelab live autoscale`` as a user runs it: against an idle stack it scales orders down to
``--min`` and stops after ``--duration``; mistakes are named, never a traceback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from live.supervisor import StackState
from tests.live.supervisor.test_stack import servicelab

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("stack")]


def test_an_idle_service_is_scaled_down_to_min_within_the_duration(tmp_path: Path) -> None:
    up = servicelab("live", "up", "--state-dir", str(tmp_path), "--replicas", "orders=3")
    try:
        assert up.returncode == 0, up.stderr
        started = time.monotonic()
        ran = servicelab(
            "live", "autoscale", "orders", "--state-dir", str(tmp_path), "--target", "5", "--min", "1",
            "--period", "500ms", "--duration", "4s", "--down-window", "1s", "--max-change", "1",
        )  # fmt: skip
        took = time.monotonic() - started
        assert ran.returncode == 0, ran.stderr
        assert "orders: 3 -> 2 replicas" in ran.stdout
        assert "orders: 2 -> 1 replicas" in ran.stdout  # one at a time: --max-change 1
        assert "orders runs 1" in ran.stdout
        assert took < 30, f"--duration 4s ran {took:.1f} s"  # + start-up and the last graceful stop
        state = StackState.load(tmp_path)
        assert state is not None
        assert len(state.of("orders")) == 1
    finally:
        down = servicelab("live", "down", "--state-dir", str(tmp_path))
    assert down.returncode == 0, down.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["orders", "--min", "3", "--max", "2"], "need 0 <= min_replicas <= max_replicas, got min=3, max=2"),
        (["orders", "--period", "1x"], "cannot read '1x' as a duration"),
        (
            ["payments"],
            "cannot autoscale 'payments': the scalable services are config, users, inventory, orders",
        ),
        (["orders", "--duration", "1s"], "no instance of orders runs in"),
    ],
)
def test_mistakes_are_named_without_a_traceback(tmp_path: Path, args: list[str], message: str) -> None:
    ran = servicelab("live", "autoscale", *args, "--state-dir", str(tmp_path / "none"))
    assert ran.returncode == 1
    assert message in ran.stderr
    assert "Traceback" not in ran.stderr
