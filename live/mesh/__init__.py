"""The stack's service mesh security (``live up --mtls``): certificates, TLS contexts, the access policy.

``certs`` issues a throw-away CA and one certificate per identity (a SPIFFE-like URI in the SAN) into
the paths of ``files``; ``setup`` is what ``live up --mtls`` prepares; ``tls`` turns the files into
server and client :class:`ssl.SSLContext` objects; ``policy`` is which identity may call which service;
``guard`` enforces it in the callee, for aiohttp apps and for ASGI apps under uvicorn, whose request
scopes get the peer's certificate from ``asgi_tls``.
"""
