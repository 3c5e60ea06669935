"""Re-rolling toxicity on open connections, so faults keep coming while pooled connections live on.

Toxiproxy decides a toxic's toxicity once per connection. Callers keep their connections open in
pools, so after a few resets the pools hold only connections the dice spared, and a ``reset_peer``
toxic with toxicity 0.2 stops hurting anybody after the first second. :class:`Churn` removes and
re-adds every toxic on the chosen proxies every ``period`` seconds, in a background thread: each
re-add decides again, for every open connection, whether the toxic acts on it -- a steady rate of
faults for as long as the churn runs. (Removing a timeout toxic also closes the connections it held.)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from chaos.client import ToxiproxyClient, ToxiproxyError

__all__ = ["Churn"]

log = logging.getLogger("chaostoolkit")


class Churn:
    """Every ``period`` seconds, remove and re-add the toxics of ``proxies()`` until :meth:`stop`."""

    def __init__(self, client: ToxiproxyClient, proxies: Callable[[], list[str]], period: float) -> None:
        if not period > 0:
            raise ValueError(f"the churn period must be positive, got {period!r}")
        self.client, self.proxies, self.period = client, proxies, period
        self.rounds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="toxic-churn", daemon=True)

    def start(self) -> Churn:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                for proxy in self.proxies():
                    for toxic in self.client.toxics(proxy):
                        self.client.remove_toxic(proxy, toxic["name"])
                        self.client.add_toxic(proxy, toxic)
            except ToxiproxyError as error:  # a toxic removed meanwhile (the method healing): next round
                log.info("toxic churn: %s", error)
            self.rounds += 1

    def stop(self) -> int:
        """Stop (within one round); how many rounds ran."""
        self._stop.set()
        self._thread.join(timeout=30)
        return self.rounds
