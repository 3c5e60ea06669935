"""schemathesis against each service's own OpenAPI document: whatever it sends, no answer is a 5xx.

Each service runs instrumented (as in the stack: probes, metrics, the one error shape) on a real
loopback port; schemathesis loads ``/openapi.json`` over HTTP, and for every operation hypothesis
generates a bounded number of requests (valid and not) which go over real HTTP and must not get a
server error (schemathesis' ``not_a_server_error`` check). users, orders and registry are FastAPI apps
whose documents FastAPI derives from their models; inventory (aiohttp) serves a hand-written one.
The requests carry credentials (a registry token, a user's bearer token, ``X-User``) so the fuzzing
gets past authentication into the handlers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup, ServerError

from live.auth.keys import ensure_signing_key
from live.common.observability import instrument
from live.common.server import running
from live.common.settings import InstanceSettings
from live.inventory.app import create_app as create_inventory
from live.orders.app import create_app as create_orders
from live.registry.app import create_app as create_registry
from live.users.app import create_app as create_users
from tests.live.http import call
from tests.live.orders.conftest import CATALOGUE, Inventories, instance

pytestmark = pytest.mark.live

MAX_EXAMPLES = 40
"""Requests generated per operation, valid ones (positive mode) and invalid ones (negative mode) mixed:
enough to reach the odd corners of each schema, few enough for CI."""

TOKEN = "schemathesis-registry-token"

Served = tuple[str, dict[str, str]]  # base URL, headers every request carries


def settings_for(service: str, state_dir: Path) -> InstanceSettings:
    return InstanceSettings(service=service, instance=f"{service}-1", state_dir=state_dir)


def serve(app: Any, settings: InstanceSettings) -> AbstractContextManager[str]:
    instrument(app, settings)
    return running(app)


@contextmanager
def registry(state_dir: Path) -> Iterator[Served]:
    with serve(create_registry(TOKEN), settings_for("registry", state_dir)) as url:
        yield url, {"Authorization": f"Bearer {TOKEN}"}


@contextmanager
def users(state_dir: Path) -> Iterator[Served]:
    ensure_signing_key(state_dir)
    with serve(create_users(settings_for("users", state_dir)), settings_for("users", state_dir)) as url:
        assert (
            call("POST", f"{url}/users", json_body={"username": "fuzz", "password": "fuzz fuzz"}).status
            == 201
        )
        login = call("POST", f"{url}/users/token", form={"username": "fuzz", "password": "fuzz fuzz"})
        yield url, {"Authorization": f"Bearer {login.body['access_token']}"}


@contextmanager
def inventory(state_dir: Path) -> Iterator[Served]:
    settings = settings_for("inventory", state_dir)
    with serve(create_inventory(settings, catalogue=CATALOGUE), settings) as url:
        yield url, {}


@contextmanager
def orders(state_dir: Path) -> Iterator[Served]:
    with inventory(state_dir / "inventory") as (inventory_url, _):
        settings = settings_for("orders", state_dir)
        app = create_orders(settings, discover=Inventories([instance(inventory_url)]), timeout=1.0)
        with serve(app, settings) as url:
            yield url, {"X-User": "fuzz", "X-Scopes": "orders:read orders:write"}


SERVICES: dict[str, Callable[[Path], AbstractContextManager[Served]]] = {
    "registry": registry,
    "users": users,
    "inventory": inventory,
    "orders": orders,
}


@pytest.mark.parametrize("service", list(SERVICES))
def test_no_request_schemathesis_generates_gets_a_server_error(service: str, tmp_path: Path) -> None:
    with SERVICES[service](tmp_path) as (url, headers):
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert operations, f"{service}'s document lists no operation"
        failures: dict[str, str] = {}
        for operation in operations:
            try:
                fuzz(operation, url, headers)
            except Exception as error:  # every operation is fuzzed; all failures are reported together
                failures[operation.label] = f"{type(error).__name__}: {error}"
        assert not failures, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())


def fuzz(operation: schemathesis.APIOperation, url: str, headers: dict[str, str]) -> None:
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests on every run: a failure here is reproducible
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=st.one_of(*(operation.as_strategy(mode) for mode in GenerationMode)))
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=url, headers=headers, checks=[not_a_server_error], timeout=10)

    check()


def test_the_check_catches_a_handler_that_fails_on_some_input(tmp_path: Path) -> None:
    """The harness can fail: a handler that assumes its string parameter is a number answers 500."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/shelves/{shelf}")
    def shelf(shelf: str) -> dict[str, int]:
        return {"shelf": int(shelf)}

    with serve(app, settings_for("broken", tmp_path)) as url:
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        (operation,) = [
            op for op in (r.ok() for r in schema.get_all_operations()) if op.path == "/shelves/{shelf}"
        ]
        with pytest.raises(FailureGroup) as caught:
            fuzz(operation, url, {})
    assert [(type(f), f.status_code) for f in caught.value.exceptions] == [(ServerError, 500)]
