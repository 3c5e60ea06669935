"""A whole stack started as a mesh (``live up --mtls``): the shop still works through the gateway, and
every service refuses what the mesh forbids.

Calls into the mesh are made the way a service makes them: over TLS with a certificate of the stack's
CA (``client_context(state_dir, identity)``). Without a client certificate, or with one from another
CA, the TLS handshake fails; with a valid certificate of an identity the policy does not allow, the
callee answers 403 -- aiohttp services (inventory) and FastAPI ones (orders, users) alike.
"""

from __future__ import annotations

import re
import socket
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from live.config.client import ConfigClient
from live.mesh.certs import CA_FILE, issue_mesh
from live.mesh.tls import client_context
from live.supervisor import SERVICES, Stack, StackError
from tests.live.conftest import running_stack
from tests.live.http import call
from tests.live.test_shop import SKU, login, order_and_check_stock, stock

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("stack")]


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("mesh"), mtls=True) as started:
        yield started


def url(stack: Stack, service: str) -> str:
    found = stack.state.url(service)
    assert found is not None
    return found


def as_(stack: Stack, identity: str) -> ssl.SSLContext:
    """The TLS context a process with mesh identity ``identity`` calls with."""
    return client_context(stack.state_dir, identity)


def reservation(sku: str = SKU) -> dict:
    return {
        "request_id": str(uuid.uuid4()),
        "order_id": str(uuid.uuid4()),
        "items": [{"sku": sku, "quantity": 1}],
    }


def test_services_listen_with_tls_and_the_gateway_stays_plain_http(mesh: Stack) -> None:
    schemes = {record.service: record.url.split(":", 1)[0] for record in mesh.state.instances}
    assert schemes == {service: "http" if service == "gateway" else "https" for service in SERVICES}
    listed = call("GET", f"{url(mesh, 'registry')}/services/inventory", context=as_(mesh, "gateway"))
    assert listed.status == 200, listed.body
    assert [item["url"] for item in listed.body["instances"]] == [url(mesh, "inventory")]


def test_the_shop_works_through_the_gateway(mesh: Stack) -> None:
    order_and_check_stock(mesh, login(mesh))


def first_bytes(stack: Stack, service: str, context: ssl.SSLContext) -> bytes:
    """The first bytes a service sends back to ``GET /ready`` over TLS with ``context`` (b"": none).

    TLS 1.3 lets the client finish its side of the handshake before the server has checked the
    client's certificate; a server that refuses the certificate aborts its side and closes, so the
    refused client reads nothing (or the server's alert, raised as ssl.SSLError) instead of HTTP.
    """
    port = stack.state.of(service)[0].port
    request = b"GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=3.0) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(request)
            return tls.recv(64)
    except (ssl.SSLError, ConnectionResetError):
        return b""


def test_a_call_without_a_client_certificate_fails_the_handshake(mesh: Stack) -> None:
    trusting = ssl.create_default_context(cafile=mesh.state_dir / "secrets" / CA_FILE)  # no certificate
    for service in ("orders", "inventory", "registry"):
        assert first_bytes(mesh, service, as_(mesh, "supervisor")).startswith(b"HTTP/1.1 200")
        assert first_bytes(mesh, service, trusting) == b"", service
        with pytest.raises(ConnectionResetError):  # urllib: http.client.RemoteDisconnected
            call("GET", f"{url(mesh, service)}/ready", context=trusting)


def test_a_certificate_from_another_ca_fails_the_handshake(mesh: Stack, tmp_path: Path) -> None:
    issue_mesh(tmp_path, ["supervisor"])  # the same identity, minted by a stranger
    stranger = ssl.create_default_context(cafile=mesh.state_dir / "secrets" / CA_FILE)
    secrets = tmp_path / "secrets"
    stranger.load_cert_chain(secrets / "mesh-supervisor.crt", secrets / "mesh-supervisor.key")
    assert first_bytes(mesh, "orders", stranger) == b""


def test_plain_http_to_a_mesh_service_gets_no_http_answer(mesh: Stack) -> None:
    plain = url(mesh, "orders").replace("https://", "http://")
    with pytest.raises(ConnectionResetError):
        call("GET", f"{plain}/ready", timeout=3.0)


def test_an_unauthorised_identity_gets_403_and_changes_nothing(mesh: Stack) -> None:
    before = stock(mesh)
    refused = call(
        "POST",
        f"{url(mesh, 'inventory')}/inventory/reservations",
        json_body=reservation(),
        context=as_(mesh, "users"),
    )
    assert refused.status == 403
    assert refused.body == {"error": "the mesh policy does not allow users to call inventory", "status": 403}
    assert stock(mesh) == before


def test_an_authorised_identity_is_served(mesh: Stack) -> None:
    before = stock(mesh)
    reserved = call(
        "POST",
        f"{url(mesh, 'inventory')}/inventory/reservations",
        json_body=reservation(),
        context=as_(mesh, "orders"),
    )
    assert reserved.status in (200, 201), reserved.body
    assert stock(mesh)["reserved"] == before["reserved"] + 1


def test_a_fastapi_service_enforces_the_policy_too(mesh: Stack) -> None:
    """Only the gateway may call orders: a forged ``X-User`` from any other service is refused."""
    forged = {"X-User": "alice"}
    for identity in ("users", "inventory", "supervisor"):
        refused = call("GET", f"{url(mesh, 'orders')}/orders", headers=forged, context=as_(mesh, identity))
        assert refused.status == 403, identity
        assert refused.body["error"] == f"the mesh policy does not allow {identity} to call orders"
    allowed = call("GET", f"{url(mesh, 'orders')}/orders", headers=forged, context=as_(mesh, "gateway"))
    assert allowed.status == 200, allowed.body
    assert allowed.body == []


def test_probes_are_open_to_the_probing_identities_only(mesh: Stack) -> None:
    for service in ("users", "inventory", "orders", "registry"):
        target = url(mesh, service)
        assert call("GET", f"{target}/ready", context=as_(mesh, "supervisor")).status == 200
        metrics = call("GET", f"{target}/metrics", context=as_(mesh, "prometheus"))
        assert metrics.status == 200
        assert "http_requests_total" in metrics.body
    assert call("GET", f"{url(mesh, 'orders')}/metrics", context=as_(mesh, "users")).status == 403


def test_refusals_are_logged_by_the_callee(mesh: Stack) -> None:
    call("GET", f"{url(mesh, 'users')}/users/me", context=as_(mesh, "inventory"))
    log = (mesh.state_dir / "logs" / "users-1.log").read_text(encoding="utf-8")
    assert "mesh policy refused inventory -> users /users/me" in log


def test_status_probes_the_mesh_with_the_supervisor_certificate(mesh: Stack) -> None:
    rows = Stack(mesh.state_dir).status()  # another process's view: mTLS comes from the state file
    assert [row["ready"] for row in rows] == [True] * len(rows)


def test_a_bad_policy_file_stops_live_up_before_any_process_starts(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("calls: {gateway: [Orders]}", encoding="utf-8")
    stack = Stack(tmp_path / "state", mtls=True, mesh_policy=policy)
    with pytest.raises(StackError, match=re.escape("calls.gateway")):
        stack.up()
    assert stack.running() == []
    assert not (tmp_path / "state" / "logs").exists()


def test_live_config_reaches_the_config_service_with_the_operator_certificate(mesh: Stack) -> None:
    client = ConfigClient.for_stack(mesh.state_dir)
    assert client.context is not None  # the mesh's: a plain client is refused at the handshake
    written = client.set("features.orders.cancel_enabled", False)
    assert client.get("features.orders.cancel_enabled")["value"] is False
    assert client.get("features.orders.cancel_enabled")["version"] == written["version"]
    client.unset("features.orders.cancel_enabled")
