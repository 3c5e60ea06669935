"""TLS contexts of the mesh: every server asks for a client certificate, every client presents one.

Both sides trust only the stack's CA (``secrets/mesh-ca.crt``). A server context *requires* a client
certificate signed by it, so a caller without one fails the handshake before any HTTP is spoken; a
client context presents its identity's certificate and checks the server's against the CA and the
address it dialled (127.0.0.1, in every certificate's SAN). Who the caller is, once the handshake
passed, is :func:`peer_identity` of the connection -- the access policy's business, not TLS's.
"""

from __future__ import annotations

import functools
import ssl
from pathlib import Path

from live.common.settings import InstanceSettings
from live.mesh.files import mesh_files

__all__ = [
    "MeshTlsError",
    "client_context",
    "client_ssl",
    "identity_of_der",
    "peer_identity",
    "server_context",
]


class MeshTlsError(RuntimeError):
    """The stack runs with mTLS but an identity's certificate files are missing or unusable."""


def _load(context: ssl.SSLContext, state_dir: Path, identity: str) -> ssl.SSLContext:
    files = mesh_files(state_dir, identity)
    try:
        context.load_verify_locations(cafile=files.ca)
        context.load_cert_chain(files.certificate, files.key)
    except (OSError, ssl.SSLError) as error:
        raise MeshTlsError(
            f"no usable mesh certificate for {identity!r} in {state_dir / 'secrets'} ({error}); "
            "start the stack with `servicelab live up --mtls`"
        ) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


def server_context(state_dir: Path, identity: str) -> ssl.SSLContext:
    """What a mesh server listens with: its own certificate, client certificates required."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.verify_mode = ssl.CERT_REQUIRED
    return _load(context, state_dir, identity)


def client_context(state_dir: Path, identity: str) -> ssl.SSLContext:
    """What a mesh client connects with: its certificate presented, the server's verified."""
    return _load(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), state_dir, identity)


@functools.lru_cache(maxsize=64)
def identity_of_der(der: bytes) -> str | None:
    """The mesh identity in a DER certificate (parsed once per distinct certificate: a stack has few)."""
    from cryptography import x509  # only mesh servers parse certificates: clients stay light

    from live.mesh.certs import identity_of

    return identity_of(x509.load_der_x509_certificate(der))


def peer_identity(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> str | None:
    """The mesh identity of the certificate the other side of a TLS connection presented, if any."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return identity_of_der(der) if der else None


@functools.cache
def _client_context(state_dir: Path, identity: str) -> ssl.SSLContext:
    return client_context(state_dir, identity)


def client_ssl(settings: InstanceSettings) -> ssl.SSLContext | bool:
    """The ``ssl`` argument of this process's aiohttp connectors: its mesh identity under mTLS, else
    aiohttp's default (``True``: verify as usual). One context per process, shared by its clients."""
    return _client_context(settings.state_dir, settings.service) if settings.mtls else True
