"""``servicelab chaos proxy``: the embedded Toxiproxy as a process, as users (and experiments) run it."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live.http import call

pytestmark = pytest.mark.live

ROOT = Path(__file__).parents[2]


def _servicelab(*args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", "from servicelab_cli import main; main()", *args]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_proxy_serves_the_api_populates_from_config_and_stops_on_sigint(tmp_path: Path) -> None:
    config = tmp_path / "toxiproxy.json"
    config.write_text(json.dumps([{"name": "db", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"}]))
    process = _servicelab("chaos", "proxy", "--port", "0", "--config", str(config))
    try:
        banner = process.stdout.readline()
        assert "http://127.0.0.1:" in banner, process.stderr.read()
        url = banner.split()[-1]
        assert call("GET", f"{url}/version").body["version"] == "2.12.0"
        assert call("GET", f"{url}/proxies").body["db"]["enabled"] is True
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('[{"name": "db"}]', "missing required field: upstream at proxy 1"),
        ("not json", "Expecting value"),
    ],
)
def test_a_bad_config_is_one_clear_line_and_exit_1(tmp_path: Path, config: str, message: str) -> None:
    path = tmp_path / "toxiproxy.json"
    path.write_text(config)
    process = _servicelab("chaos", "proxy", "--port", "0", "--config", str(path))
    _out, err = process.communicate(timeout=20)
    assert process.returncode == 1
    assert message in err
    assert "Traceback" not in err


def test_a_port_in_use_is_one_clear_line_and_exit_1() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        process = _servicelab("chaos", "proxy", "--port", str(taken.getsockname()[1]))
        _, err = process.communicate(timeout=20)
    assert process.returncode == 1
    assert "Address already in use" in err
