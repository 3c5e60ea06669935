"""mTLS is a property of a process's settings: handed down in the environment, https for all but the edge."""

from __future__ import annotations

from pathlib import Path

from live.common.instances import InstanceInfo
from live.common.settings import InstanceSettings


def test_mtls_travels_in_the_environment_and_only_the_gateway_stays_plain(tmp_path: Path) -> None:
    for service, scheme in (("orders", "https"), ("registry", "https"), ("gateway", "http")):
        settings = InstanceSettings(service, f"{service}-1", tmp_path, mtls=True)
        again = InstanceSettings.from_env(settings.environ())
        assert again == settings
        assert again.scheme == scheme
    plain = InstanceSettings("orders", "orders-1", tmp_path)
    assert "SERVICELAB_MTLS" not in plain.environ()
    assert InstanceSettings.from_env(plain.environ()).scheme == "http"


def test_an_instance_is_dialled_with_the_scheme_it_registered() -> None:
    assert InstanceInfo("orders", "orders-1", "127.0.0.1", 8000).url == "http://127.0.0.1:8000"
    mesh = InstanceInfo("orders", "orders-1", "127.0.0.1", 8000, {"scheme": "https"})
    assert mesh.url == "https://127.0.0.1:8000"
    assert InstanceInfo.from_json(mesh.to_json()).url == "https://127.0.0.1:8000"
