"""Password hashes verify the right password only, are salted, and name their parameters."""

from __future__ import annotations

import pytest

from live.auth.passwords import hash_password, verify_password


def test_the_right_password_verifies_and_a_wrong_one_does_not() -> None:
    stored = hash_password("correct horse battery")
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse battery ", stored)
    assert not verify_password("Correct horse battery", stored)


def test_the_same_password_hashes_differently_each_time() -> None:
    first, second = hash_password("hunter22"), hash_password("hunter22")
    assert first != second
    assert first.split("$")[4] != second.split("$")[4]  # the salts
    assert verify_password("hunter22", first)
    assert verify_password("hunter22", second)


def test_a_hash_names_its_scheme_and_parameters_and_hides_the_password() -> None:
    stored = hash_password("übergeheim-ñ")
    scheme, n, r, p, _salt, _digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**14), "8", "1")
    assert "übergeheim" not in stored
    assert verify_password("übergeheim-ñ", stored)


@pytest.mark.parametrize(
    "stored",
    ["", "plain-text", "bcrypt$16384$8$1$AAAA$AAAA", "scrypt$16384$8$1$***$AAAA", "scrypt$3$8$1$AAAA$AAAA"],
)
def test_something_that_is_not_a_hash_is_an_error_not_a_mismatch(stored) -> None:
    with pytest.raises(ValueError, match="not a scrypt password hash"):
        verify_password("anything", stored)
