"""The stack's token signing key: one Ed25519 key pair, its PEM files, its key id and its JWKS document.

``live up`` calls :func:`ensure_signing_key` before any users process starts: it writes

    <state_dir>/secrets/jwt-private.pem   PKCS#8 private key, 0600 (only the users service reads it)
    <state_dir>/secrets/jwt-public.pem    SubjectPublicKeyInfo public key (not secret; the JWKS says the same)

Every stack start gets a new key; nothing here is ever committed.

A verifier finds the key that signed a token by the token header's ``kid``. The kid is the RFC 7638
JWK thumbprint: the SHA-256 of the key's required JWK members (``crv``, ``kty``, ``x``) written in
lexicographic order without whitespace, base64url encoded. It depends on the key alone, so every
replica and every verifier computes the same kid from the same key, with nothing to keep in sync.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from live.common.settings import write_secret

__all__ = [
    "PRIVATE_KEY_FILE",
    "PUBLIC_KEY_FILE",
    "ensure_signing_key",
    "jwks",
    "key_id",
    "load_private_key",
    "load_public_key",
    "private_pem",
    "public_jwk",
    "public_pem",
]

PRIVATE_KEY_FILE = "jwt-private.pem"
PUBLIC_KEY_FILE = "jwt-public.pem"


def _b64url(data: bytes) -> str:
    """Base64url without padding, as JOSE writes binary values."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def private_pem(key: Ed25519PrivateKey) -> str:
    """The private key as unencrypted PKCS#8 PEM (the file's 0600 mode is its protection)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def public_pem(key: Ed25519PublicKey) -> str:
    """The public key as SubjectPublicKeyInfo PEM."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def _x(key: Ed25519PublicKey) -> str:
    """The JWK ``x`` member: the 32 raw public key bytes, base64url."""
    return _b64url(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def key_id(key: Ed25519PublicKey) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256) of the public key."""
    required = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": _x(key)}, separators=(",", ":"))
    return _b64url(hashlib.sha256(required.encode("ascii")).digest())


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    """The public key as a JWK (RFC 8037 OKP) for EdDSA signatures."""
    return {"kty": "OKP", "crv": "Ed25519", "x": _x(key), "kid": key_id(key), "use": "sig", "alg": "EdDSA"}


def jwks(*keys: Ed25519PublicKey) -> dict[str, Any]:
    """The JWKS document listing the given public keys."""
    return {"keys": [public_jwk(key) for key in keys]}


def ensure_signing_key(state_dir: Path) -> Path:
    """Give the state folder a fresh key pair, replacing an earlier stack's; return the private key's path.

    The supervisor calls this at every ``live up``, before any users process starts; replicas only
    read the key, so they all sign with the same one, and tokens of an earlier stack stop verifying.
    """
    key = Ed25519PrivateKey.generate()
    write_secret(state_dir, PUBLIC_KEY_FILE, public_pem(key.public_key()))
    return write_secret(state_dir, PRIVATE_KEY_FILE, private_pem(key))


def _read_pem(state_dir: Path, name: str) -> bytes:
    path = state_dir / "secrets" / name
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no token signing key at {path}: `live up` creates it (live.auth.keys.ensure_signing_key)"
        ) from None


def load_private_key(state_dir: Path) -> Ed25519PrivateKey:
    """The stack's private signing key (FileNotFoundError says how to create it)."""
    key = serialization.load_pem_private_key(_read_pem(state_dir, PRIVATE_KEY_FILE), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{PRIVATE_KEY_FILE} holds a {type(key).__name__}, not an Ed25519 private key")
    return key


def load_public_key(state_dir: Path) -> Ed25519PublicKey:
    """The stack's public verification key, for a verifier that reads files instead of the JWKS URL."""
    key = serialization.load_pem_public_key(_read_pem(state_dir, PUBLIC_KEY_FILE))
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{PUBLIC_KEY_FILE} holds a {type(key).__name__}, not an Ed25519 public key")
    return key
