"""The consumer tests: one module per edge, each test a function ``(folder) -> None``.

A consumer test builds its own Pact (one ``Pact`` per test: a pact cannot gain interactions once its
mock server runs), declares the interactions it relies on with matchers and provider states, drives
the consumer's real code against Pact's mock server (or, for messages, hands the example messages to
the consumer's real handler), checks what the consumer made of the answers, and merges its pact into
``<consumer>-<provider>.json`` in ``folder``. pytest runs each one as a test
(``tests/contracts/test_consumers.py``); :func:`generate` runs them all to write a fresh set of pacts
(``servicelab contracts test``, and the provider tests' fixture).

Modules: ``gateway_users``, ``gateway_orders``, ``gateway_inventory``, ``orders_inventory`` (HTTP) and
``inventory_events`` (messages: inventory consumes orders' ``OrderPlaced`` / ``OrderCancelled``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from contracts.pactfiles import PactFile, pact_files

__all__ = ["MODULES", "ConsumerTest", "Report", "consumer_tests", "generate"]

MODULES = ("gateway_users", "gateway_orders", "gateway_inventory", "orders_inventory", "inventory_events")


@dataclass(frozen=True)
class ConsumerTest:
    """``run(folder)`` is the test of ``consumer``'s expectations of ``provider`` called ``name``."""

    consumer: str
    provider: str
    name: str
    run: Callable[[Path], None]

    @property
    def id(self) -> str:
        return f"{self.consumer}->{self.provider}:{self.name}"


def consumer_tests() -> list[ConsumerTest]:
    """Every consumer test, module by module in :data:`MODULES` order."""
    found = []
    for name in MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        found += [
            ConsumerTest(module.CONSUMER, module.PROVIDER, test.__name__, test) for test in module.TESTS
        ]
    return found


Report = Callable[[ConsumerTest, BaseException | None], None]
"""Told of each consumer test's outcome: None when it passed, else what it raised."""


def generate(folder: Path, report: Report | None = None) -> list[PactFile]:
    """Run every consumer test, writing a fresh set of pacts into ``folder`` (earlier pact files of the
    same pairs are replaced, not merged into); returns the pacts. Without ``report`` the first failing
    test raises; with it, each outcome is reported and the other tests still run."""
    tests = consumer_tests()
    for consumer, provider in {(t.consumer, t.provider) for t in tests}:
        (folder / f"{consumer}-{provider}.json").unlink(missing_ok=True)
    for test in tests:
        try:
            test.run(folder)
        except Exception as failure:
            if report is None:
                raise
            report(test, failure)
        else:
            if report is not None:
                report(test, None)
    return pact_files(folder)
