"""Authentication for the live stack: signing keys, access tokens, their verification, password hashes.

The users service holds an Ed25519 private key (generated at ``live up`` into the state folder) and
signs short-lived access tokens with it (EdDSA JWTs). Everyone else verifies those tokens with the
public half, published as a JWKS document, so no secret ever leaves the users service:

    keys.py       the key pair, its PEM files, its ``kid`` and the JWKS document
    tokens.py     issuing access tokens (the claims the stack agrees on)
    verify.py     JwksVerifier: the checks every receiver of a token makes, and why it refuses one
    passwords.py  salted scrypt password hashes
"""
