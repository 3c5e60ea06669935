"""``python -m live.deploy.secrets``: what a containerised stack's one-shot secrets step writes and keeps."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from live.auth.keys import load_private_key
from live.common.settings import read_secret

ROOT = Path(__file__).resolve().parents[3]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {key: value for key, value in os.environ.items() if key != "SERVICELAB_STATE_DIR"}
    environ |= {"PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "live.deploy.secrets", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_creates_the_token_and_the_signing_key_once_then_keeps_them(tmp_path: Path) -> None:
    first = run(env={"SERVICELAB_STATE_DIR": str(tmp_path)})
    assert first.returncode == 0, first.stderr
    assert "registry-token" in first.stdout
    token = read_secret(tmp_path, "registry-token")
    assert token is not None
    assert len(token) >= 32
    key = load_private_key(tmp_path).private_bytes_raw()
    for path in (tmp_path / "secrets").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    second = run(str(tmp_path))
    assert second.returncode == 0, second.stderr
    assert "kept" in second.stdout
    assert read_secret(tmp_path, "registry-token") == token
    assert load_private_key(tmp_path).private_bytes_raw() == key


def test_without_a_state_folder_it_says_how_to_name_one() -> None:
    answer = run()
    assert answer.returncode == 2
    assert "SERVICELAB_STATE_DIR" in answer.stderr
