"""The stack's service mesh security (``live up --mtls``): certificates, TLS contexts, the access policy.

``certs`` issues a throw-away CA and one certificate per identity (a SPIFFE-like URI in the SAN);
``tls`` turns them into server and client :class:`ssl.SSLContext` objects; ``policy`` is which identity
may call which service; ``guard`` enforces it in the callee, for aiohttp and for ASGI (uvicorn) apps.
"""
