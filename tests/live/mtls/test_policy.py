"""The mesh access policy: the bundled file, deny by default, probes, and files that are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from live.mesh.policy import DEFAULT_POLICY, MeshPolicy, MeshPolicyError, load_policy
from live.supervisor import SERVICES

POLICY = load_policy(DEFAULT_POLICY)
ALLOWED = {
    ("gateway", "registry"),
    ("gateway", "config"),
    ("gateway", "users"),
    ("gateway", "inventory"),
    ("gateway", "orders"),
    ("orders", "registry"),
    ("orders", "config"),
    ("orders", "inventory"),
    ("orders", "broker"),
    ("users", "registry"),
    ("inventory", "registry"),
    ("inventory", "broker"),
    ("config", "registry"),
    ("broker", "registry"),
}


@pytest.mark.parametrize("caller", [*SERVICES, "supervisor", "prometheus"])
@pytest.mark.parametrize("callee", SERVICES)
def test_the_bundled_policy_allows_exactly_the_stack_s_calls(caller: str, callee: str) -> None:
    refusal = POLICY.refusal(caller, callee, "/inventory/reservations")
    if (caller, callee) in ALLOWED:
        assert refusal is None
    else:
        assert refusal == f"the mesh policy does not allow {caller} to call {callee}"


@pytest.mark.parametrize("caller", ["supervisor", "registry", "prometheus"])
@pytest.mark.parametrize("path", ["/health", "/ready", "/metrics"])
def test_probe_identities_reach_the_probe_paths_of_every_service(caller: str, path: str) -> None:
    for callee in SERVICES:
        assert POLICY.refusal(caller, callee, path) is None


def test_probe_paths_are_not_open_to_other_identities_nor_other_paths_to_probers() -> None:
    assert POLICY.refusal("users", "inventory", "/metrics") is not None
    assert POLICY.refusal("supervisor", "orders", "/orders") is not None
    assert POLICY.refusal("prometheus", "orders", "/metrics/../orders") is not None


def test_a_certificate_without_identity_is_refused() -> None:
    assert POLICY.refusal(None, "orders", "/ready") == "the client certificate carries no servicelab identity"


names = st.text(alphabet="abcde", min_size=1, max_size=3)  # few names: callers and callees collide often


@given(calls=st.dictionaries(names, st.frozensets(names, max_size=4), max_size=5), caller=names, callee=names)
def test_deny_by_default_a_call_passes_only_if_listed(
    calls: dict[str, frozenset[str]], caller: str, callee: str
) -> None:
    policy = MeshPolicy(calls=calls)
    assert (policy.refusal(caller, callee, "/x") is None) == (callee in calls.get(caller, frozenset()))


def test_identities_are_every_name_in_the_policy() -> None:
    assert POLICY.identities == {*SERVICES, "supervisor", "prometheus", "operator"}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("calls: {gateway: [Orders]}", "• calls.gateway"),
        ("calls: {gateway: orders}", "• calls.gateway"),
        ("call: {gateway: [orders]}", "• call: Extra inputs are not permitted"),
        ("probes: {paths: [metrics]}", "• probes.paths"),
        ("calls: [gateway", "not YAML"),
        ("- gateway", "• (top)"),
    ],
)
def test_a_bad_policy_file_is_refused_with_the_field_named(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MeshPolicyError) as refused:
        load_policy(path)
    assert str(refused.value).startswith(str(path))
    assert problem in str(refused.value)


def test_a_missing_policy_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(MeshPolicyError, match="cannot read the mesh policy"):
        load_policy(tmp_path / "nope.yaml")
