"""The mesh's certificates: a chain a standard verifier accepts, the identity in the SAN, the expiry.

The verifier is cryptography's RFC 5280 path validation (``x509.verification``), not our own reading
of the fields: a leaf it accepts as a TLS client *and* as a server for 127.0.0.1 is what the mesh
needs, and after the validity period it must refuse it.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import verification

from live.mesh.certs import CA_FILE, TRUST_DOMAIN, VALIDITY, identity_of, identity_uri, issue_mesh, mesh_files

IDENTITIES = ("orders", "inventory", "supervisor")


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.fixture
def issued(tmp_path: Path) -> Path:
    issue_mesh(tmp_path, IDENTITIES)
    return tmp_path


def _verifier(ca: x509.Certificate, at: datetime.datetime) -> verification.PolicyBuilder:
    return verification.PolicyBuilder().store(verification.Store([ca])).time(at)


def test_every_leaf_verifies_against_the_ca_as_client_and_as_server_for_loopback(issued: Path) -> None:
    ca = _load(issued / "secrets" / CA_FILE)
    now = datetime.datetime.now(datetime.UTC)
    for identity in IDENTITIES:
        leaf = _load(mesh_files(issued, identity).certificate)
        client = _verifier(ca, now).build_client_verifier().verify(leaf, [])
        assert client.chain[-1] == ca
        assert x509.UniformResourceIdentifier(identity_uri(identity)) in client.subjects
        server_chain = (
            _verifier(ca, now)
            .build_server_verifier(verification.IPAddress(ipaddress.ip_address("127.0.0.1")))
            .verify(leaf, [])
        )
        assert server_chain[-1] == ca


def test_the_san_holds_the_loopback_address_and_the_spiffe_identity(issued: Path) -> None:
    leaf = _load(mesh_files(issued, "orders").certificate)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert names.get_values_for_type(x509.UniformResourceIdentifier) == [
        f"spiffe://{TRUST_DOMAIN}/service/orders"
    ]
    assert identity_of(leaf) == "orders"


def test_a_certificate_without_a_servicelab_uri_has_no_identity(issued: Path) -> None:
    ca = _load(issued / "secrets" / CA_FILE)  # the CA: no SAN at all
    assert identity_of(ca) is None


def test_a_leaf_expires_after_the_validity_period_and_is_refused_then(tmp_path: Path) -> None:
    issue_mesh(tmp_path, ["orders"], valid_for=datetime.timedelta(hours=1))
    ca = _load(tmp_path / "secrets" / CA_FILE)
    leaf = _load(mesh_files(tmp_path, "orders").certificate)
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert datetime.timedelta(hours=1) <= lifetime <= datetime.timedelta(hours=1, minutes=6)
    later = leaf.not_valid_after_utc + datetime.timedelta(seconds=1)
    with pytest.raises(verification.VerificationError):
        _verifier(ca, later).build_client_verifier().verify(leaf, [])


def test_the_default_validity_is_a_week(issued: Path) -> None:
    leaf = _load(mesh_files(issued, "orders").certificate)
    now = datetime.datetime.now(datetime.UTC)
    assert abs(leaf.not_valid_after_utc - (now + VALIDITY)) < datetime.timedelta(minutes=1)


def test_a_leaf_of_another_stack_does_not_verify(tmp_path: Path) -> None:
    issue_mesh(tmp_path / "one", ["orders"])
    issue_mesh(tmp_path / "two", ["orders"])
    ca_one = _load(tmp_path / "one" / "secrets" / CA_FILE)
    stranger = _load(mesh_files(tmp_path / "two", "orders").certificate)
    with pytest.raises(verification.VerificationError):
        _verifier(ca_one, datetime.datetime.now(datetime.UTC)).build_client_verifier().verify(stranger, [])


def test_secrets_are_owner_only_and_the_ca_key_is_not_kept(issued: Path) -> None:
    folder = issued / "secrets"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = sorted(folder.iterdir())
    assert {path.name for path in files} == {CA_FILE} | {
        f"mesh-{identity}.{kind}" for identity in IDENTITIES for kind in ("crt", "key")
    }
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    ca_public = _load(folder / CA_FILE).public_key()
    for identity in IDENTITIES:
        key = serialization.load_pem_private_key(mesh_files(issued, identity).key.read_bytes(), None)
        assert key.public_key() == _load(mesh_files(issued, identity).certificate).public_key()
        assert key.public_key() != ca_public


def test_an_identity_that_is_not_a_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=re.escape("'../orders'")):
        issue_mesh(tmp_path, ["../orders"])
    assert not (tmp_path / "secrets").exists()
