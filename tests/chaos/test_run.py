"""`servicelab chaos run`: journal and report, exit codes, rollbacks that always run; the real `chaos` CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from chaos.client import ToxiproxyClient
from chaos.hook import ChaosHook, chaos_of
from chaos.run import chaos_stack
from live.stacks import existing_stack
from live.supervisor import Stack
from tests.live.conftest import running_stack, start_stack
from tests.live.http import call

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("stack")]

ROOT = Path(__file__).parents[2]
STATE = {"state_dir": {"type": "env", "key": "SERVICELAB_STATE_DIR", "default": ".servicelab/live"}}


def _python(module: str, func: str, **arguments: object) -> dict[str, object]:
    return {"type": "python", "module": module, "func": func, "arguments": arguments}


def _experiment(path: Path, *, hypothesis: list[dict], method: list[dict], rollbacks: list[dict]) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "version": "1.0.0",
                "title": "a short test experiment",
                "description": "A latency toxic between the gateway and orders while orders are placed.",
                "configuration": STATE,
                "steady-state-hypothesis": {"title": "the shop answers", "probes": hypothesis},
                "method": method,
                "rollbacks": rollbacks,
            }
        )
    )
    return path


READY = {
    "type": "probe",
    "name": "gateway-ready",
    "tolerance": True,
    "provider": _python("chaos.extension.probes", "service_ready", service="gateway"),
}
SLOW_ORDERS = {
    "type": "action",
    "name": "slow-orders",
    "provider": _python(
        "chaos.extension.actions",
        "add_toxic",
        type="latency",
        caller="gateway",
        callee="orders",
        attributes={"latency": 400},
    ),
}
HEAL = {"type": "action", "name": "heal", "provider": _python("chaos.extension.actions", "remove_toxics")}


def _load(seconds: float) -> dict[str, object]:
    return {
        "type": "action",
        "name": "orders-under-load",
        "provider": _python("chaos.extension.actions", "run_load", rate=5, duration=seconds, mix="order=1"),
    }


def _servicelab(*args: str, **popen: object) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", "from servicelab_cli import main; main()", *args]
    return subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("chaos-run"), hooks=[ChaosHook()]) as started:
        yield started


def _toxics(stack: Stack) -> list[str]:
    record = chaos_of(stack.state)
    assert record is not None
    return [
        toxic["name"] for proxy in ToxiproxyClient(record.url).proxies().values() for toxic in proxy["toxics"]
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("title: [unclosed", "not valid YAML"),
        ("- just\n- a list\n", "an experiment is a mapping"),
        ("description: no title\nmethod: []\n", "experiment requires a title"),
        ("title: t\ndescription: d\nmethod: 3\n", "method: must be a list of activities, got int"),
        ("title: t\ndescription: d\nmethod:\n  - 5\n", "method[1]: an activity is a mapping"),
        ("title: t\ndescription: d\nmethod: []\nrollbacks: {}\n", "rollbacks: must be a list"),
        (
            "title: t\ndescription: d\nsteady-state-hypothesis: [1]\nmethod: []\n",
            "steady-state-hypothesis: must be a mapping",
        ),
        (
            "title: t\ndescription: d\nmethod:\n  - {type: action, name: a, provider: "
            "{type: python, module: chaos.extension.actions, func: no_such_action}}\n",
            "no_such_action",
        ),
    ],
)
def test_a_broken_experiment_is_one_clear_message_and_no_stack_starts(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    process = _servicelab(
        "chaos", "run", str(path), "--state-dir", str(tmp_path / "state"), "--out", str(tmp_path / "out")
    )
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert message in err
    assert str(path) in err
    assert "Traceback" not in err
    assert not (tmp_path / "state" / "state.json").exists()


def test_a_missing_experiment_file_is_one_clear_message(tmp_path: Path) -> None:
    process = _servicelab("chaos", "run", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "out"))
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "nope.yaml" in err
    assert "Traceback" not in err


def test_a_passing_experiment_starts_a_stack_writes_journal_and_report_and_stops_it(tmp_path: Path) -> None:
    path = _experiment(
        tmp_path / "short.yaml", hypothesis=[READY], method=[SLOW_ORDERS, _load(2)], rollbacks=[HEAL]
    )
    state, out = tmp_path / "state", tmp_path / "out"
    process = _servicelab("chaos", "run", str(path), "--state-dir", str(state), "--out", str(out))
    stdout, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert "PASSED" in stdout
    journal = json.loads((out / "journal.json").read_text())
    assert journal["status"] == "completed"
    assert [run["status"] for run in journal["rollbacks"]] == ["succeeded"]
    report = (out / "report.md").read_text()
    assert "| gateway-ready | true | true | true | yes |" in report
    assert "Fault windows (shaded): slow-orders" in report
    page = (out / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 2
    assert "<script" not in page
    assert len((out / "requests.csv").read_text().splitlines()) > 1
    assert not (state / "state.json").exists()  # the stack it started is stopped again


def test_a_violated_hypothesis_exits_1_saying_which_probe_and_the_rollbacks_ran(
    tmp_path: Path, running: Stack
) -> None:
    quick = {
        "type": "probe",
        "name": "orders-p50-quick",
        "tolerance": {"type": "range", "range": [0.0, 0.3]},
        "provider": _python(
            "chaos.extension.probes", "shop_latency", percentile=50, rate=5, duration=1, mix="order=1"
        ),
    }
    path = _experiment(tmp_path / "deviates.yaml", hypothesis=[quick], method=[SLOW_ORDERS], rollbacks=[HEAL])
    out = tmp_path / "out"
    process = _servicelab("chaos", "run", str(path), "--state-dir", str(running.state_dir), "--out", str(out))
    _stdout, err = process.communicate(timeout=300)
    assert process.returncode == 1
    assert "violated after the method: orders-p50-quick" in err
    assert "Traceback" not in err
    assert _toxics(running) == []  # the rollback removed the toxic
    assert json.loads((out / "journal.json").read_text())["deviated"] is True
    assert "| orders-p50-quick |" in (out / "report.md").read_text()
    assert running.running()  # a stack it did not start is left running


def test_ctrl_c_during_the_method_still_plays_the_rollbacks(tmp_path: Path, running: Stack) -> None:
    path = _experiment(
        tmp_path / "long.yaml", hypothesis=[READY], method=[SLOW_ORDERS, _load(60)], rollbacks=[HEAL]
    )
    process = _servicelab(
        "chaos", "run", str(path), "--state-dir", str(running.state_dir), "--out", str(tmp_path / "out")
    )
    try:
        deadline = time.monotonic() + 60
        while not _toxics(running) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _toxics(running) == ["latency_downstream"]
        time.sleep(1)
        process.send_signal(signal.SIGINT)
        _stdout, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 1
    assert "interrupted" in err
    assert _toxics(running) == []


def test_the_real_chaos_cli_runs_a_shipped_experiment(tmp_path: Path, running: Stack) -> None:
    """The breaker experiment: servicelab's probes and actions, chaostoolkit-toxiproxy's own action on
    the edge's proxy, and the Toxiproxy URL from a dynamic configuration probe."""
    experiment = ROOT / "chaos" / "experiments" / "latency-orders-inventory-breaker.yaml"
    environment = {**os.environ, "SERVICELAB_STATE_DIR": str(running.state_dir), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "chaostoolkit", "--no-log-file", "run", "--rollback-strategy", "always"]
    done = subprocess.run(
        [*command, str(experiment)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["status"] == "completed"
    assert journal["deviated"] is False
    assert [run["status"] for run in journal["run"]] == ["succeeded", "succeeded"]
    assert journal["run"][0]["activity"]["provider"]["module"] == "chaostoxi.toxic.actions"
    assert [run["status"] for run in journal["rollbacks"]] == ["succeeded"]
    assert _toxics(running) == []


def test_a_stack_started_without_chaos_gets_proxies_its_callers_follow(tmp_path: Path) -> None:
    plain = start_stack(tmp_path / "plain")
    record = None
    try:
        with chaos_stack(plain.state_dir) as (state, started):
            assert started is False
            record = chaos_of(state)
            assert record is not None
            client = ToxiproxyClient(record.url)
            client.add_toxic("gateway__inventory-1", {"type": "reset_peer", "attributes": {"timeout": 0}})
            item = f"{state.url('gateway')}/api/inventory/items/KB-001"
            deadline = time.monotonic() + 30  # callers pick up edges.json on their next lookup
            while call("GET", item, timeout=30).status == 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert call("GET", item, timeout=30).status >= 500
            client.reset()
    finally:
        existing_stack(plain.state_dir).down()
    assert record is not None
    assert not record.handle.alive()
