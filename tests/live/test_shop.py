"""The whole stack on loopback, driven through the gateway as a user would.

One stack serves the module (its processes die with the test process, whatever happens); each test
signs up its own user so tests do not depend on each other's orders.
"""

from __future__ import annotations

import json
import secrets
import signal
import time
import uuid
from pathlib import Path

import pytest

from live.supervisor import Stack
from tests.live.http import Answer, call

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("stack")]

SKU = "KB-001"


def api(stack: Stack) -> str:
    return f"{stack.state.url('gateway')}/api"


def login(stack: Stack) -> str:
    """Sign up a fresh user and return its bearer token."""
    username, password = f"user{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    signed = call("POST", f"{api(stack)}/users", json_body={"username": username, "password": password})
    assert signed.status == 201, signed.body
    token = call("POST", f"{api(stack)}/users/token", form={"username": username, "password": password})
    assert token.status == 200, token.body
    assert token.body["token_type"] == "bearer"
    return token.body["access_token"]


def place(stack: Stack, token: str, key: str | None = None, quantity: int = 1, **headers: str) -> Answer:
    return call(
        "POST",
        f"{api(stack)}/orders",
        json_body={"items": [{"sku": SKU, "quantity": quantity}]},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key or str(uuid.uuid4()), **headers},
    )


def stock(stack: Stack) -> dict:
    answer = call("GET", f"{api(stack)}/inventory/items/{SKU}")
    assert answer.status == 200, answer.body
    return answer.body


def served(stack: Stack, service: str, route: str) -> dict[str, float]:
    """Requests on ``route`` each instance of ``service`` answered, from its own /metrics."""
    counts = {}
    for record in stack.state.of(service):
        text = call("GET", f"{record.url}/metrics").body
        counts[record.instance] = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("http_requests_total{") and f'route="{route}"' in line
        )
    return counts


def order_and_check_stock(stack: Stack, token: str) -> Answer:
    """Place one order of SKU; assert it is placed and reserves exactly one unit. Returns the order."""
    before = stock(stack)
    order = place(stack, token)
    assert order.status == 201, order.body
    assert order.body["status"] == "placed"
    after = stock(stack)
    assert (after["available"], after["reserved"]) == (before["available"] - 1, before["reserved"] + 1)
    return order


def test_sign_up_log_in_and_order_reserves_stock(stack: Stack) -> None:
    token = login(stack)
    order = order_and_check_stock(stack, token)
    mine = call("GET", f"{api(stack)}/orders", headers={"Authorization": f"Bearer {token}"})
    assert [o["id"] for o in mine.body] == [order.body["id"]]


def test_a_retried_create_with_the_same_key_yields_one_order(stack: Stack) -> None:
    token = login(stack)
    key = str(uuid.uuid4())
    before = stock(stack)
    first, again = place(stack, token, key), place(stack, token, key)
    assert (first.status, again.status) == (201, 201)
    assert again.body["id"] == first.body["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert stock(stack)["reserved"] == before["reserved"] + 1
    mine = call("GET", f"{api(stack)}/orders", headers={"Authorization": f"Bearer {token}"})
    assert len(mine.body) == 1


def test_orders_need_a_valid_token(stack: Stack) -> None:
    assert place(stack, "not-a-token").status == 401
    anonymous = call("POST", f"{api(stack)}/orders", json_body={"items": [{"sku": SKU, "quantity": 1}]})
    assert anonymous.status == 401
    assert "Bearer" in anonymous.headers.get("WWW-Authenticate", "")


def services_in_trace(traces: Path, trace_id: str) -> set[str]:
    """The services that wrote a span of ``trace_id`` to the stack's trace files so far."""
    services = set()
    for path in traces.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            for resource in json.loads(line)["resourceSpans"]:
                name = next(
                    a["value"]["stringValue"]
                    for a in resource["resource"]["attributes"]
                    if a["key"] == "service.name"
                )
                if any(s["traceId"] == trace_id for scope in resource["scopeSpans"] for s in scope["spans"]):
                    services.add(name)
    return services


def test_a_trace_spans_gateway_orders_and_inventory(stack: Stack) -> None:
    token = login(stack)
    trace_id = secrets.token_hex(16)
    order = place(stack, token, traceparent=f"00-{trace_id}-{secrets.token_hex(8)}-01")
    assert order.status == 201
    traces = Path(stack.state.state_dir) / "traces"
    wanted = {"gateway", "orders", "inventory"}
    deadline = time.monotonic() + 10  # spans reach the files in batches, within 0.2 s on an idle machine
    while not wanted <= services_in_trace(traces, trace_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert wanted <= services_in_trace(traces, trace_id)


def test_scaled_orders_share_the_load_and_survive_a_killed_instance(stack: Stack) -> None:
    token = login(stack)
    stack.scale("orders", 3)
    assert len(stack.state.of("orders")) == 3
    before = served(stack, "orders", "/orders")
    for _ in range(30):
        assert place(stack, token).status == 201
    after = served(stack, "orders", "/orders")
    shares = {instance: after[instance] - before.get(instance, 0) for instance in after}
    assert sum(shares.values()) >= 30
    assert all(share >= 5 for share in shares.values()), shares  # round robin: about 10 each

    victim = stack.state.of("orders")[1]
    victim.handle.signal(signal.SIGKILL)
    registry = stack.state.url("registry")
    failures, deadline, evicted = 0, time.monotonic() + 15, False
    while time.monotonic() < deadline and not evicted:
        failures += place(stack, token).status != 201
        listed = call("GET", f"{registry}/services/orders").body["instances"]
        evicted = victim.instance not in {i["instance"] for i in listed}
    assert evicted, "the registry still lists the killed instance"
    assert failures == 0  # the gateway retried the idempotent creates on a live instance
    for _ in range(10):
        assert place(stack, token).status == 201


def test_every_service_serves_its_openapi_document(stack: Stack) -> None:
    for service in ("registry", "users", "inventory", "orders"):
        record = stack.state.of(service)[0]
        document = call("GET", f"{record.url}/openapi.json")
        assert document.status == 200, (service, document.body)
        assert document.body["openapi"].startswith("3.")
        assert document.body["paths"], service
        schemas = document.body.get("components", {}).get("schemas", {})
        if "HTTPValidationError" in schemas:  # FastAPI services: the 422 body they really send
            assert schemas["HTTPValidationError"]["required"] == ["error", "status", "problems"]
