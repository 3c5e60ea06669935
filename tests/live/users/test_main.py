"""``python -m live.users`` is a stack process: it serves, writes its run file and stops on SIGTERM."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.live.http import call
from tests.live.users.conftest import log_in, sign_up, users_settings

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[3]
START_TIMEOUT = 15.0


def wait_for(path: Path, process: subprocess.Popen[bytes]) -> dict[str, object]:
    """The run file's record once the process wrote it (bounded by START_TIMEOUT)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):  # absent, or half written
            return json.loads(path.read_text())
        if process.poll() is not None:
            pytest.fail(f"users exited with {process.returncode} before listening")
        time.sleep(0.05)
    pytest.fail(f"no run file after {START_TIMEOUT} s")


def test_the_users_process_serves_and_stops_cleanly(state_dir) -> None:
    settings = replace(users_settings(state_dir), parent_pid=os.getpid())
    env = {**os.environ, **settings.environ(), "PYTHONPATH": str(ROOT)}
    env.pop("SERVICELAB_REGISTRY_URL", None)
    command = [sys.executable, "-m", "live.users"]
    process = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True)
    try:
        record = wait_for(settings.run_file, process)
        url = record["url"]
        assert url.startswith("http://127.0.0.1:")
        assert record["pid"] == process.pid
        assert sign_up(url, "alice").status == 201
        assert log_in(url, "alice").status == 200
        assert call("GET", f"{url}/.well-known/jwks.json").status == 200
        assert call("GET", f"{url}/ready").status == 200  # instrumented, as every stack process is
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
    assert not settings.run_file.exists()
    assert settings.database.exists()
