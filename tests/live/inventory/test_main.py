"""``python -m live.inventory`` as the supervisor runs it: it listens, serves and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from live.common.settings import InstanceSettings
from tests.live.http import call

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[3]


def test_the_process_serves_its_database_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    settings = InstanceSettings("inventory", "inventory-7", tmp_path, parent_pid=os.getpid())
    env = {**os.environ, **settings.environ(), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "live.inventory"], env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 15
        while not settings.run_file.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert settings.run_file.exists(), f"no run file; exit code {process.poll()}"
        url = json.loads(settings.run_file.read_text())["url"]
        assert url.startswith("http://127.0.0.1:")
        items = call("GET", f"{url}/inventory/items")
        assert items.status == 200
        assert len(items.body) > 0
        assert settings.database.exists()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        assert not settings.run_file.exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
