"""Choosing the broker: ``live up --broker redis://127.0.0.1:PORT`` or the embedded default."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from live.events.choice import BROKER_FILE, broker_url, check_broker_url, choose_broker
from live.supervisor import Stack, StackError

CLI = (sys.executable, "-c", "import servicelab_cli; servicelab_cli.main()")


def test_the_choice_is_recorded_and_a_later_stack_without_it_gets_the_embedded_broker(tmp_path: Path) -> None:
    assert broker_url(tmp_path) is None  # no file: embedded
    choose_broker("redis://127.0.0.1:6390/0")(tmp_path)
    assert broker_url(tmp_path) == "redis://127.0.0.1:6390/0"
    choose_broker(None)(tmp_path)  # what `live up` without --broker records
    assert broker_url(tmp_path) is None
    assert (tmp_path / BROKER_FILE).is_file()


@pytest.mark.parametrize(
    "url", ["redis://10.0.0.5:6379", "http://127.0.0.1:6379", "redis://127.0.0.1", "redis://127.0.0.1:x"]
)
def test_only_redis_on_loopback_with_a_port_is_accepted(url: str) -> None:
    with pytest.raises(ValueError, match=r"redis://127\.0\.0\.1:PORT"):
        check_broker_url(url)
    with pytest.raises(ValueError, match="Redis on loopback"):
        choose_broker(url)


def test_the_broker_runs_exactly_one_instance(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="broker needs exactly 1"):
        Stack(tmp_path).up({"broker": 2})
    with pytest.raises(StackError, match="cannot scale 'broker'"):
        Stack(tmp_path).scale("broker", 2)
    assert not (tmp_path / "state.json").exists()


def test_live_up_names_a_bad_broker_url_and_starts_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [*CLI, "live", "up", "--state-dir", str(tmp_path), "--broker", "redis://192.0.2.1:6379"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "is not redis://127.0.0.1:PORT" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "state.json").exists()
