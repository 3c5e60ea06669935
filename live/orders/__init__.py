"""The orders service (FastAPI): idempotent order creation that reserves stock at inventory.

:mod:`live.orders.store` keeps orders, idempotency keys and the transactional outbox in the service's
SQLite file; :mod:`live.orders.inventory` calls inventory; :mod:`live.orders.outbox` relays events;
:mod:`live.orders.app` is the HTTP API; ``python -m live.orders`` runs one instance of the stack.
"""
