"""The alerting rules and the Prometheus configuration, checked by Prometheus' own ``promtool``: the
rules parse, the rendered configuration is valid, and each rule fires on made-up series when it
should and stays quiet when it should not (``alerts_test.yml``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from live.monitoring import ALERT_RULES, Intervals, PrometheusFiles
from live.monitoring.files import duration, targets
from live.supervisor import InstanceRecord, StackState
from tests.conftest import require

HERE = Path(__file__).parent


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    require(binary="promtool")
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60, check=False)


def a_state(tmp_path: Path) -> StackState:
    """A state as ``live up`` records it (the processes need not run for the files to be written)."""
    records = [
        InstanceRecord(service, f"{service}-{n}", 1, 0.0, 40000 + i, f"http://127.0.0.1:{40000 + i}", "x.log")
        for i, (service, n) in enumerate([("registry", 1), ("orders", 1), ("orders", 2), ("gateway", 1)])
    ]
    return StackState(str(tmp_path), records)


def test_the_shipped_rules_pass_promtool_check_rules() -> None:
    checked = promtool("check", "rules", str(ALERT_RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 6 rules found" in checked.stdout


def test_each_rule_fires_on_its_made_up_series_and_only_then(tmp_path: Path) -> None:
    shutil.copy(ALERT_RULES, tmp_path / "alerts.yml")
    shutil.copy(HERE / "alerts_test.yml", tmp_path / "alerts_test.yml")
    tested = promtool("test", "rules", str(tmp_path / "alerts_test.yml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_a_rendered_stack_configuration_passes_promtool_check_config(tmp_path: Path) -> None:
    files = PrometheusFiles.of(tmp_path / "state with spaces")
    files.write(Intervals(scrape=1.0, evaluation=0.5, hold=1.5))
    files.write_targets(a_state(tmp_path))
    checked = promtool("check", "config", str(files.config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = yaml.safe_load(files.config.read_text())
    assert config["global"] == {
        "scrape_interval": "1000ms",
        "scrape_timeout": "1000ms",
        "evaluation_interval": "500ms",
    }
    assert config["rule_files"] == [str(files.rules)]
    assert config["scrape_configs"][0]["file_sd_configs"][0]["files"] == [str(files.targets)]


def test_the_demo_rules_hold_seconds_and_keep_every_expression(tmp_path: Path) -> None:
    files = PrometheusFiles.of(tmp_path)
    files.write(Intervals(hold=1.5))
    shipped = yaml.safe_load(ALERT_RULES.read_text())["groups"]
    demo = yaml.safe_load(files.rules.read_text())["groups"]
    shipped_rules = [rule for group in shipped for rule in group["rules"]]
    demo_rules = [rule for group in demo for rule in group["rules"]]
    assert [r["expr"] for r in demo_rules] == [r["expr"] for r in shipped_rules]
    assert {r["for"] for r in shipped_rules} != {"1500ms"}
    assert {r["for"] for r in demo_rules} == {"1500ms"}
    checked = promtool("check", "rules", str(files.rules))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_targets_name_every_instance_by_service_and_instance(tmp_path: Path) -> None:
    found = targets(a_state(tmp_path))
    assert found[1] == {
        "targets": ["127.0.0.1:40001"],
        "labels": {"service": "orders", "instance": "orders-1", "__scheme__": "http"},
    }
    named = [entry["labels"]["instance"] for entry in found]
    assert named == ["registry-1", "orders-1", "orders-2", "gateway-1"]


def test_bad_intervals_and_durations_are_refused_with_the_value() -> None:
    with pytest.raises(ValueError, match=r"scrape interval must be at least 0\.1 s, got 0"):
        Intervals(scrape=0)
    with pytest.raises(ValueError, match="alert hold must be >= 0 s, got -1"):
        Intervals(hold=-1)
    with pytest.raises(ValueError, match="at least 1 ms"):
        duration(0.0001)
    assert duration(2) == "2000ms"
