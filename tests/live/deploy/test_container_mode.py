"""Container mode (live/deploy/): a fixed listening address and an advertised host instead of 127.0.0.1.

In a container the process binds ``SERVICELAB_LISTEN`` and registers ``SERVICELAB_ADVERTISE_HOST``. Here
a real ``python -m live.inventory`` binds a fixed loopback port and advertises ``localhost`` (a name
other than 127.0.0.1 that still stays on loopback) to a real registry that accepts such hosts.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from live.common.server import running
from live.common.settings import InstanceSettings, write_secret
from live.common.sockets import bind_loopback
from live.registry.app import RegistryConfig
from live.registry.app import create_app as create_registry
from tests.live.http import call
from tests.live.orders.test_processes import process, stop, wait_ready

TOKEN = "container-mode-token"


def test_listen_and_advertise_come_from_the_environment_and_back() -> None:
    env = {
        "SERVICELAB_SERVICE": "inventory",
        "SERVICELAB_STATE_DIR": "/var/lib/servicelab",
        "SERVICELAB_LISTEN": "0.0.0.0:8000",
        "SERVICELAB_ADVERTISE_HOST": "inventory",
    }
    settings = InstanceSettings.from_env(env)
    assert settings.listen == ("0.0.0.0", 8000)
    assert settings.container_mode
    assert settings.advertise_host == "inventory"
    assert InstanceSettings.from_env(settings.environ()) == settings
    laptop = InstanceSettings.from_env({"SERVICELAB_SERVICE": "inventory", "SERVICELAB_STATE_DIR": "/s"})
    assert laptop.listen is None
    assert not laptop.container_mode


@pytest.mark.parametrize("bad", ["8000", "0.0.0.0:", "0.0.0.0:http", ":8000", "0.0.0.0:70000"])
def test_a_malformed_listen_address_is_refused_with_its_value(bad: str) -> None:
    env = {"SERVICELAB_SERVICE": "inventory", "SERVICELAB_STATE_DIR": "/s", "SERVICELAB_LISTEN": bad}
    with pytest.raises(ValueError, match="SERVICELAB_LISTEN must be HOST:PORT"):
        InstanceSettings.from_env(env)


def register(registry: str, host: str) -> int:
    body = {"instance": "inventory-9", "host": host, "port": 8000}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return call("POST", f"{registry}/services/inventory/instances", json_body=body, headers=headers).status


@pytest.mark.live
def test_only_a_container_mode_registry_accepts_hosts_other_than_loopback() -> None:
    with running(create_registry(TOKEN)) as laptop:
        assert register(laptop, "inventory") == 422
        assert register(laptop, "127.0.0.1") == 201
    with running(create_registry(TOKEN, RegistryConfig(loopback_only=False))) as container:
        assert register(container, "10.1.2.3") == 201
        assert register(container, "inventory") == 201
        assert register(container, "bad host/") == 422


@pytest.mark.live
def test_a_process_binds_its_fixed_port_and_registers_its_advertised_host(tmp_path: Path) -> None:
    write_secret(tmp_path, "registry-token", TOKEN)
    with bind_loopback() as probe:
        port = probe.getsockname()[1]  # free a moment ago; the process binds it itself
    with running(create_registry(TOKEN, RegistryConfig(loopback_only=False))) as registry:
        settings = InstanceSettings(
            service="inventory",
            instance="inventory-1",
            state_dir=tmp_path,
            registry_url=registry,
            listen=("127.0.0.1", port),
            advertise_host="localhost",
        )
        with process(settings) as (child, url):
            assert url == f"http://localhost:{port}"
            wait_ready(url)
            deadline = time.monotonic() + 10
            listed: list[dict] = []
            while not listed and time.monotonic() < deadline:
                listed = call("GET", f"{registry}/services/inventory").body["instances"]
                time.sleep(0.05)
            assert [(i["host"], i["port"]) for i in listed] == [("localhost", port)]
            assert call("GET", f"http://127.0.0.1:{port}/health").status == 200
            assert stop(child) == 0
        assert call("GET", f"{registry}/services/inventory?include_critical=true").body["instances"] == []
