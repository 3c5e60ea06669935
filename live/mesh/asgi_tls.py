"""The ASGI TLS extension for apps under uvicorn, which does not fill it in itself.

An ASGI app sees a request as a ``scope`` dict; the ASGI spec's TLS extension
(``scope["extensions"]["tls"]``) is where a server puts the client's certificate chain, but uvicorn
leaves it out. :func:`with_tls_extension` derives a uvicorn HTTP protocol class that adds it: one
protocol object serves one connection, and asyncio calls its ``connection_made`` only once the TLS
handshake is complete, so the peer's certificate is known there -- the protocol wraps its app once per
connection in a function that adds the extension to every request scope on that connection.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

__all__ = ["tls_extension", "with_tls_extension"]


def tls_extension(ssl_object: ssl.SSLObject | None) -> dict[str, Any] | None:
    """The ASGI TLS extension for a connection (None when it is not TLS).

    ``client_cert_chain`` holds the peer's certificate as PEM (the leaf only: Python's ssl module
    does not expose the rest of the verified chain); the integer codes the spec allows for
    ``tls_version`` and ``cipher_suite`` are not exposed either, hence None.
    """
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    peer = ssl_object.getpeercert() or {}
    subject = ",".join(f"{key}={value}" for rdn in reversed(peer.get("subject", ())) for key, value in rdn)
    return {
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": subject or None,
        "client_cert_error": None,  # the handshake passed: a certificate that failed never gets here
        "tls_version": None,
        "cipher_suite": None,
    }


def with_tls_extension(base: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """A subclass of uvicorn's HTTP protocol ``base`` whose request scopes carry the TLS extension."""

    class TlsScopeProtocol(base):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            extension = tls_extension(transport.get_extra_info("ssl_object"))
            if extension is None:
                return
            app = self.app

            async def app_with_tls(scope: dict[str, Any], receive: Any, send: Any) -> None:
                scope["extensions"] = {**scope.get("extensions", {}), "tls": extension}
                await app(scope, receive, send)

            self.app = app_with_tls

    return TlsScopeProtocol
