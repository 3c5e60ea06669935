"""``python -m live.gateway`` as a process: a broken configuration is reported by field, then exit 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from live.common.settings import InstanceSettings

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[3]


def run_gateway(settings: InstanceSettings) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **settings.environ(), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "live.gateway"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_a_broken_config_file_is_reported_field_by_field(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("routes:\n  orders: {prefix: /orders, service: orders, timeout: -1, retires: 3}\n")
    settings = InstanceSettings(
        "gateway", "gateway-1", tmp_path, registry_url="http://127.0.0.1:9", config_file=config
    )
    done = run_gateway(settings)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"{config}: 2 problems in the gateway configuration",
        "• routes.orders.timeout: Input should be greater than 0",
        "• routes.orders.retires: unknown field (a typo?)",
    ]
    assert not (tmp_path / "run").exists()  # it never started listening


def test_without_a_registry_the_gateway_says_what_it_needs(tmp_path: Path) -> None:
    done = run_gateway(InstanceSettings("gateway", "gateway-1", tmp_path))
    assert done.returncode == 1
    assert "SERVICELAB_REGISTRY_URL" in done.stderr
