"""The supervisor as a user meets it: ``servicelab live up`` returns with a ready stack, ``live down``
leaves no process and no bound port, and a test process that dies takes its stack with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from live.supervisor import SERVICES, StackState
from tests.live.http import call

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("stack")]


def servicelab(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import servicelab_cli; servicelab_cli.main()", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def listening(pid: int) -> list[tuple[str, int]]:
    """The addresses process ``pid`` listens on."""
    try:
        connections = psutil.Process(pid).net_connections(kind="inet")
    except psutil.NoSuchProcess:
        return []
    return [(c.laddr.ip, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN]


def bound(port: int) -> bool:
    return any(
        c.laddr.port == port and c.status == psutil.CONN_LISTEN for c in psutil.net_connections("inet")
    )


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def gone(pids: list[int], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(
            psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids
        ):
            return True
        time.sleep(0.1)
    return False


def test_live_up_returns_a_ready_stack_and_live_down_leaves_nothing(tmp_path: Path) -> None:
    up = servicelab("live", "up", "--state-dir", str(tmp_path), "--replicas", "orders=2")
    try:
        assert up.returncode == 0, up.stderr
        state = StackState.load(tmp_path)
        assert state is not None
        assert sorted({r.service for r in state.instances}) == sorted(SERVICES)
        assert len(state.of("orders")) == 2
        assert "gateway" in up.stdout
        assert state.url("gateway") in up.stdout
        for record in state.instances:
            assert psutil.pid_exists(record.pid)
            addresses = listening(record.pid)
            assert addresses, f"{record.instance} listens nowhere"
            assert {ip for ip, _ in addresses} == {"127.0.0.1"}, (record.instance, addresses)
            assert call("GET", f"{record.url}/ready").status == 200
        status = servicelab("live", "status", "--state-dir", str(tmp_path))
        assert status.returncode == 0
        assert status.stdout.count("running") == len(state.instances)
        registry = state.url("registry")
        forged = call(
            "POST",
            f"{registry}/services/orders/instances",
            json_body={"instance": "x", "host": "127.0.0.1", "port": 1},
        )
        assert forged.status == 401
    finally:
        down = servicelab("live", "down", "--state-dir", str(tmp_path))
    assert down.returncode == 0, down.stderr
    assert gone([r.pid for r in state.instances], within=1)
    assert not any(bound(r.port) for r in state.instances)
    assert not (tmp_path / "state.json").exists()
    assert list((tmp_path / "run").glob("*.json")) == []


def test_a_second_up_in_the_same_folder_is_refused_and_bad_flags_are_named(tmp_path: Path) -> None:
    bad = servicelab("live", "up", "--state-dir", str(tmp_path), "--replicas", "payments=2")
    assert bad.returncode == 1
    assert "unknown service 'payments'" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = servicelab("live", "scale", "orders", "2", "--state-dir", str(tmp_path))
    assert missing.returncode == 1
    assert "no stack runs" in missing.stderr


def test_a_test_process_that_dies_takes_its_stack_with_it(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, sys, time
        from pathlib import Path
        from live.supervisor import Stack
        from live.supervisor.prepare import PREPARE
        Stack(Path({str(tmp_path)!r}), parent_pid=os.getpid(), prepare=PREPARE).up()
        print("up", flush=True)
        time.sleep(60)
        """
    )
    runner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert runner.stdout is not None
        assert runner.stdout.readline().strip() == "up"
        state = json.loads((tmp_path / "state.json").read_text())
        pids = [item["pid"] for item in state["instances"]]
        assert all(psutil.pid_exists(pid) for pid in pids)
        os.kill(runner.pid, signal.SIGKILL)  # no teardown runs: the children must notice on their own
        runner.wait(timeout=10)
        assert gone(pids, within=10)
        assert not any(bound(item["port"]) for item in state["instances"])
    finally:
        runner.kill()


def test_ctrl_c_during_live_up_leaves_nothing_behind(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "import servicelab_cli; servicelab_cli.main()", "live", "up"]
    up = subprocess.Popen([*command, "--state-dir", str(tmp_path)], stderr=subprocess.PIPE, text=True)
    logs = tmp_path / "logs"
    deadline = time.monotonic() + 20
    while len(list(logs.glob("*.log"))) < len(SERVICES) and time.monotonic() < deadline:
        time.sleep(0.02)  # every instance has been started, none is ready yet (or only just)
    started = [
        process.pid
        for process in psutil.process_iter(["environ"])
        if (process.info["environ"] or {}).get("SERVICELAB_STATE_DIR") == str(tmp_path.resolve())
    ]
    up.send_signal(signal.SIGINT)
    _, stderr = up.communicate(timeout=30)
    assert len(started) == len(SERVICES)
    assert up.returncode != 0
    assert "Traceback" not in stderr
    assert gone(started, within=10)
    assert not (tmp_path / "state.json").exists()
