"""servicelab live: small real services (FastAPI, aiohttp) on 127.0.0.1 behind a gateway.

Shared by every process: :mod:`live.common` (settings, server, observability, registry client);
the services: :mod:`live.registry`, :mod:`live.users`, :mod:`live.inventory`, :mod:`live.orders`,
:mod:`live.gateway`; the supervisor that runs them: :mod:`live.supervisor` (``servicelab live``).
"""
