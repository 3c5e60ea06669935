"""On a whole stack: ``servicelab live config set`` changes the running gateway, no restart needed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from live.supervisor import Stack, StackState
from tests.live.http import Answer, call
from tests.live.supervisor.test_stack import servicelab
from tests.live.test_shop import login, place

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("stack")]


def config(stack: Stack, *args: str) -> str:
    """``servicelab live config ARGS`` against the stack; its output (the test fails on exit code 1)."""
    done = servicelab("live", "config", *args, "--state-dir", str(stack.state_dir))
    assert done.returncode == 0, done.stderr
    return done.stdout


def first_within(seconds: float, attempt: Callable[[], Answer], wanted: int) -> tuple[float, Answer]:
    """Seconds until ``attempt()`` answers ``wanted`` (tries every 20 ms); fails after ``seconds``."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        answer = attempt()
        if answer.status == wanted:
            return time.monotonic() - started, answer
        time.sleep(0.02)
    raise AssertionError(f"no {wanted} within {seconds} s (last: {answer.status} {answer.body})")


def pids(stack: Stack) -> dict[str, int]:
    return {record.instance: record.pid for record in stack.running()}


def test_a_new_rate_limit_applies_within_seconds_and_unset_restores_it(stack: Stack) -> None:
    items = f"{stack.state.url('gateway')}/api/inventory/items"
    before = pids(stack)
    assert {call("GET", items).status for _ in range(20)} == {200}  # dev: 500/s, bursts of 1000
    try:
        config(stack, "set", "gateway.rate_limit.burst", "3")
        assert "gateway.rate_limit.rate = 2   (version 1, runtime)" in config(
            stack, "set", "gateway.rate_limit.rate", "2"
        )
        _took, refused = first_within(3.0, lambda: call("GET", items), 429)
        assert refused.body["error"].startswith("too many requests from ip:127.0.0.1")
        assert int(refused.headers["Retry-After"]) >= 1
        burst = [call("GET", items).status for _ in range(10)]  # at 2/s, most of ten quick ones are refused
        assert burst.count(429) >= 6
    finally:
        config(stack, "unset", "gateway.rate_limit.rate")
        config(stack, "unset", "gateway.rate_limit.burst")
    time.sleep(1.5)  # the bucket of 2/s refills what the refused requests left empty, once rebuilt
    first_within(3.0, lambda: call("GET", items), 200)
    assert {call("GET", items).status for _ in range(20)} == {200}
    assert pids(stack) == before  # nothing was restarted


def test_the_maintenance_flag_closes_and_reopens_the_gateway(stack: Stack) -> None:
    items = f"{stack.state.url('gateway')}/api/inventory/items"
    before = pids(stack)
    try:
        config(stack, "set", "gateway.maintenance", "back at six")
        _, closed = first_within(3.0, lambda: call("GET", items), 503)
        assert closed.body == {"error": "back at six", "status": 503, "maintenance": True}
        assert call("POST", f"{stack.state.url('gateway')}/api/users/token").status == 503
    finally:
        config(stack, "set", "gateway.maintenance", "false")
    first_within(3.0, lambda: call("GET", items), 200)
    assert pids(stack) == before


def test_get_and_list_show_the_environment_and_mistakes_exit_1(stack: Stack) -> None:
    shown = config(stack, "get", "gateway.rate_limit.rate")  # its version counts the writes of other tests
    assert shown.startswith("gateway.rate_limit.rate = 500   (version ")
    assert shown.rstrip().endswith(", environment)")
    listed = config(stack, "list", "gateway.")
    assert "config (dev, version" in listed
    assert "gateway.rate_limit.burst" in listed
    assert "orders." not in listed
    config(stack, "set", "features.demo", "not json")  # not JSON: kept as the text
    stored = call("GET", f"{stack.state.url('config')}/config/features.demo").body
    assert stored["value"] == "not json"
    mistakes = {
        ("get", "Bad..Key"): "is not a key",
        ("get", "gateway.nothing"): "no value for 'gateway.nothing'",
        ("unset", "gateway.nothing"): "has no run-time value",
        ("set", "features.demo", "1", "--expect-version", "0"): "is at version 1, not the expected 0",
    }
    for args, message in mistakes.items():
        done = servicelab("live", "config", *args, "--state-dir", str(stack.state_dir))
        assert done.returncode == 1, args
        assert message in done.stderr, done.stderr


def test_no_stack_is_a_clear_error(tmp_path: Path) -> None:
    done = servicelab("live", "config", "list", "--state-dir", str(tmp_path))
    assert done.returncode == 1
    assert f"no config service runs in {tmp_path}" in done.stderr


def test_live_up_env_prod_loads_the_prod_overlay_and_records_it(tmp_path: Path) -> None:
    assert servicelab("live", "up", "--env", "staging", "--state-dir", str(tmp_path)).returncode == 1
    up = servicelab("live", "up", "--env", "prod", "--timeout", "30", "--state-dir", str(tmp_path))
    try:
        assert up.returncode == 0, up.stderr
        state = StackState.load(tmp_path)
        assert state is not None
        assert state.options["environment"] == "prod"
        entry = call("GET", f"{state.url('config')}/config/gateway.balancing.policy").body
        assert (entry["value"], entry["source"]) == ("least_outstanding", "environment")
        listed = json.dumps(call("GET", f"{state.url('config')}/config").body)
        assert '"environment": "prod"' in listed
    finally:
        servicelab("live", "down", "--state-dir", str(tmp_path))


def test_a_feature_flag_switches_cancelling_orders_off_and_on(stack: Stack) -> None:
    token = login(stack)
    placed = place(stack, token)
    assert placed.status == 201, placed.body
    cancel = f"{stack.state.url('gateway')}/api/orders/{placed.body['id']}/cancel"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        config(stack, "set", "features.orders.cancel_enabled", "false")
        _, refused = first_within(3.0, lambda: call("POST", cancel, headers=headers), 403)
        assert refused.body["code"] == "feature_disabled"
        assert "features.orders.cancel_enabled" in refused.body["error"]
        assert (
            call("GET", f"{stack.state.url('gateway')}/api/orders/{placed.body['id']}", headers=headers).body[
                "status"
            ]
            == "placed"
        )
    finally:
        config(stack, "set", "features.orders.cancel_enabled", "true")
    _, cancelled = first_within(3.0, lambda: call("POST", cancel, headers=headers), 200)
    assert cancelled.body["status"] == "cancelled"
