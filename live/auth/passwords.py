"""Password hashes: scrypt with a random salt per password, compared in constant time.

scrypt (RFC 7914) is deliberately slow and memory-hard: with n=2**14, r=8 one guess costs about
16 MiB and a tenth of a second, which is what makes a stolen table of hashes expensive to attack.
The salt (16 random bytes per password) makes equal passwords hash differently, so no guess is
reused across users. A stored hash names its own parameters,

    scrypt$<n>$<r>$<p>$<salt, base64>$<hash, base64>

so the parameters can be raised later without breaking the hashes already stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

__all__ = ["hash_password", "verify_password"]

_SCHEME = "scrypt"
_N, _R, _P = 2**14, 8, 1
_SALT_BYTES = 16
_HASH_BYTES = 32
_MAX_MEMORY = 64 * 2**20  # bytes scrypt may use; n=2**14, r=8 needs 128 * r * n = 16 MiB


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=_HASH_BYTES, maxmem=_MAX_MEMORY
    )


def hash_password(password: str) -> str:
    """The storable hash of ``password``, with a fresh random salt."""
    salt = os.urandom(_SALT_BYTES)
    digest = _scrypt(password, salt, _N, _R, _P)
    encoded = (base64.b64encode(part).decode("ascii") for part in (salt, digest))
    return "$".join([_SCHEME, str(_N), str(_R), str(_P), *encoded])


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (ValueError if ``stored`` is not a hash)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != _SCHEME:
            raise ValueError(f"scheme {scheme!r}")
        expected = base64.b64decode(digest, validate=True)
        actual = _scrypt(password, base64.b64decode(salt, validate=True), int(n), int(r), int(p))
    except ValueError as error:
        raise ValueError(f"not a {_SCHEME} password hash ({error})") from None
    return hmac.compare_digest(actual, expected)
