"""The inventory service (aiohttp): stock levels and idempotent, all-or-nothing reservations.

:mod:`live.inventory.store` keeps the stock in the service's SQLite file, :mod:`live.inventory.app`
serves it over HTTP; ``python -m live.inventory`` runs one instance of the stack.
"""
