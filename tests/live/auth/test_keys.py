"""The signing key's files, its RFC 7638 kid and the JWKS document that publishes it."""

from __future__ import annotations

import base64
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from live.auth.keys import (
    PRIVATE_KEY_FILE,
    ensure_signing_key,
    jwks,
    key_id,
    load_private_key,
    load_public_key,
)


def raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_ensure_writes_a_private_key_only_its_owner_reads_and_its_public_half(tmp_path) -> None:
    path = ensure_signing_key(tmp_path)
    assert path == tmp_path / "secrets" / PRIVATE_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700
    assert raw(load_private_key(tmp_path).public_key()) == raw(load_public_key(tmp_path))


def test_every_stack_start_gets_a_fresh_key(tmp_path) -> None:
    ensure_signing_key(tmp_path)
    first = raw(load_public_key(tmp_path))
    ensure_signing_key(tmp_path)
    assert raw(load_public_key(tmp_path)) != first
    assert raw(load_private_key(tmp_path).public_key()) == raw(load_public_key(tmp_path))


def test_a_missing_key_says_how_to_create_it(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="live up"):
        load_private_key(tmp_path)


def test_kid_is_the_rfc_7638_thumbprint() -> None:
    # RFC 8037 appendix A.2 (the Ed25519 public key) and A.3 (its JWK thumbprint)
    x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    key = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "="))
    assert key_id(key) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_different_keys_have_different_kids() -> None:
    assert key_id(Ed25519PrivateKey.generate().public_key()) != key_id(
        Ed25519PrivateKey.generate().public_key()
    )


def test_jwks_publishes_the_public_key_for_eddsa_signatures() -> None:
    key = Ed25519PrivateKey.generate().public_key()
    document = jwks(key)
    assert list(document) == ["keys"]
    (jwk,) = document["keys"]
    assert set(jwk) == {"kty", "crv", "x", "kid", "use", "alg"}
    assert (jwk["kty"], jwk["crv"], jwk["use"], jwk["alg"]) == ("OKP", "Ed25519", "sig", "EdDSA")
    assert jwk["kid"] == key_id(key)
    assert "=" not in jwk["x"]
    assert base64.urlsafe_b64decode(jwk["x"] + "=") == raw(key)
