"""``servicelab live up --mtls`` from the command line: the mesh's state outlives the command, so
``status`` and ``scale`` (other processes) follow it; mistakes in the options are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from live.mesh.tls import client_context
from live.supervisor import SERVICES, StackState
from tests.live.http import call
from tests.live.supervisor.test_stack import servicelab

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("stack")]


def test_up_with_mtls_then_status_and_scale_follow_the_mesh(tmp_path: Path) -> None:
    up = servicelab("live", "up", "--mtls", "--state-dir", str(tmp_path))
    try:
        assert up.returncode == 0, up.stderr
        assert "https://127.0.0.1:" in up.stdout
        status = servicelab("live", "status", "--state-dir", str(tmp_path))
        assert status.returncode == 0, status.stderr
        assert status.stdout.count("running") == len(SERVICES)
        # ready: probed over mTLS with the supervisor's certificate
        assert status.stdout.count(" yes ") == len(SERVICES)
        scaled = servicelab("live", "scale", "inventory", "2", "--state-dir", str(tmp_path))
        assert scaled.returncode == 0, scaled.stderr
        state = StackState.load(tmp_path)
        assert state is not None
        second = state.of("inventory")[1]
        assert second.url.startswith("https://")
        as_orders = client_context(tmp_path, "orders")
        assert call("GET", f"{second.url}/inventory/items", context=as_orders).status == 200
        as_users = client_context(tmp_path, "users")
        assert call("GET", f"{second.url}/inventory/items", context=as_users).status == 403
    finally:
        down = servicelab("live", "down", "--state-dir", str(tmp_path))
    assert down.returncode == 0, down.stderr


def test_mesh_policy_needs_mtls_and_a_good_file(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "calls: {gateway: [registry, Users]}\nprobes: {callers: [supervisor]}\n", encoding="utf-8"
    )
    alone = servicelab("live", "up", "--mesh-policy", str(policy), "--state-dir", str(tmp_path / "a"))
    assert alone.returncode == 1
    assert "--mesh-policy: only with --mtls" in alone.stderr
    missing = servicelab("live", "up", "--mtls", "--mesh-policy", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 1
    assert "--mesh-policy: no file" in missing.stderr
    bad = servicelab("live", "up", "--mtls", "--mesh-policy", str(policy), "--state-dir", str(tmp_path / "b"))
    assert bad.returncode == 1
    assert "• calls.gateway" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert StackState.load(tmp_path / "b") is None
