"""``servicelab contracts``: the whole suite from the command line, and verifying a running provider."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from contracts.providers import serve
from contracts.results import load_records
from contracts.versions import version_of
from tests.contracts.run import servicelab

pytestmark = pytest.mark.live


def test_contracts_test_runs_consumers_then_providers_and_prints_the_matrix(tmp_path: Path) -> None:
    done = servicelab("contracts", "test", "--pacts", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.index("Consumer tests") < out.index("Provider verification") < out.index("can-i-deploy matrix")
    assert "can-i-deploy: yes" in out
    assert sorted(p.name for p in tmp_path.glob("*.json")) == [
        "gateway-inventory.json",
        "gateway-orders.json",
        "gateway-users.json",
        "inventory-orders.json",
        "orders-inventory.json",
    ]
    records = load_records(tmp_path)
    assert {(r.consumer, r.provider) for r in records} == {
        ("gateway", "users"),
        ("gateway", "orders"),
        ("gateway", "inventory"),
        ("orders", "inventory"),
        ("inventory", "orders"),
    }
    assert all(r.success for r in records)
    assert f"{version_of('orders')} *" in out  # the current provider version is marked


def test_verify_a_running_provider_by_url(tmp_path: Path) -> None:
    pacts, state = tmp_path / "pacts", tmp_path / "stack"
    with serve("orders", state) as serving:  # orders (and its inventory) as a stack would run them
        done = servicelab(
            "contracts", "verify", "--provider", "orders", "--url", serving.url, "--state-dir", str(state),
            "--pacts", str(pacts),
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"orders {version_of('orders')}: verified" in done.stdout
    assert {r.consumer for r in load_records(pacts)} == {"gateway", "inventory"}
    matrix = servicelab("contracts", "matrix", "--pacts", str(pacts))
    # only orders was verified: the pacts of users and inventory are not, so the answer is no
    assert matrix.returncode == 1
    assert "can-i-deploy: no" in matrix.stdout
    assert "has not verified the pact of" in matrix.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--provider", "payments"], "--provider 'payments' is not one of users, orders, inventory"),
        (["--provider", "orders", "--url", "127.0.0.1:9"], "--url '127.0.0.1:9' is not an http(s) URL"),
        (
            ["--provider", "orders", "--url", "http://127.0.0.1:9", "--state-dir", "nowhere"],
            "is not a stack state",
        ),
    ],
)
def test_bad_flags_are_named_and_exit_1(args: list[str], message: str, tmp_path: Path) -> None:
    pacts = tmp_path / "pacts"
    pacts.mkdir()
    (pacts / "gateway-orders.json").write_text("{}")  # not a pact: named once the flags are checked
    done = servicelab("contracts", "verify", *args, "--pacts", str(pacts), timeout=60)
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unreachable_broker_fails_the_verification_naming_it(tmp_path: Path) -> None:
    """``--broker-url`` is optional; when given and unreachable, the verification fails and says so."""
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        broker = f"http://127.0.0.1:{probe.getsockname()[1]}"
    done = servicelab(
        "contracts", "verify", "--provider", "inventory", "--pacts", str(tmp_path), "--broker-url", broker
    )
    assert done.returncode == 1
    assert f"pact broker '{broker}'" in done.stdout
    assert "Traceback" not in done.stderr
