"""Provider verification: every pact replayed against the real service, started on loopback.

Each provider module starts its service as the stack does (its app on 127.0.0.1, its own SQLite file
in a state folder; orders with a real inventory behind it) and gives the verifier its state handler
(:mod:`contracts.providers.states`: named states that seed the service's database) and, for orders,
the producers of its messages. :mod:`contracts.providers.verification` runs pact-python's
``Verifier`` and keeps what it found; its docstring lists the pitfalls (the verifier's host, where
the mismatch text goes, state handler parameter names).

:func:`serve` starts a provider by name; :func:`attach` describes one already running (``servicelab
contracts verify --url``), seeding the databases of the stack state folder it runs on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from contracts.providers.serving import Serving

__all__ = ["PROVIDERS", "attach", "serve"]

PROVIDERS = ("users", "orders", "inventory")


def _check(provider: str) -> None:
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}: the providers are {', '.join(PROVIDERS)}")


def serve(provider: str, state_dir: Path) -> AbstractContextManager[Serving]:
    """Start ``provider`` on loopback with its database in ``state_dir`` for the span of the block."""
    _check(provider)
    starters: dict[str, Callable[[Path], AbstractContextManager[Serving]]]
    from contracts.providers.inventory import serve_inventory
    from contracts.providers.orders import serve_orders
    from contracts.providers.users import serve_users

    starters = {"users": serve_users, "orders": serve_orders, "inventory": serve_inventory}
    return starters[provider](state_dir)


@contextmanager
def attach(provider: str, url: str, state_dir: Path, scratch: Path) -> Iterator[Serving]:
    """``provider`` already running at ``url`` on the stack state folder ``state_dir`` (whose database
    its states seed -- and reset after each interaction); ``scratch``: a folder for message producers."""
    _check(provider)
    from contracts.providers.inventory import attach_inventory
    from contracts.providers.orders import attach_orders
    from contracts.providers.users import attach_users

    if provider == "orders":
        yield attach_orders(url, state_dir, scratch)
    elif provider == "users":
        yield attach_users(url, state_dir)
    else:
        yield attach_inventory(url, state_dir)
