"""What every consumer test shares: a new Pact with the consumer's version, served on loopback.

Pitfalls this module settles once:

* One ``Pact`` per test. A pact cannot gain interactions once ``serve()`` started its mock server,
  and a ``Pact`` object shared by several tests would make each test's mock server expect the other
  tests' requests too (an interaction nobody sent is a mismatch). Each test makes its own with
  :func:`new_pact` and writes it with :func:`write`; the files of one consumer-provider pair are merged.
* ``serve(addr="127.0.0.1")``: Pact's default address is ``localhost``, which may resolve to ``::1``
  first; the stack only ever speaks IPv4 loopback.
* The mock server checks the requests when its ``with`` block exits (``MismatchesError`` lists
  what was unexpected or missing), so the block must end before the pact is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pact import Pact
from pact.pact import PactServer

from contracts.discovery import instance_at
from contracts.offline import go_offline
from contracts.versions import version_of
from live.common.instances import InstanceInfo

__all__ = ["METADATA", "instance_of", "mock_server", "new_pact", "write"]

METADATA = "servicelab"
"""The pact file's metadata namespace where the consumer's version is recorded (``consumerVersion``)."""


def new_pact(consumer: str, provider: str) -> Pact:
    """A fresh V4 pact between ``consumer`` and ``provider``, stamped with the consumer's code version."""
    go_offline()
    return (
        Pact(consumer, provider)
        .with_specification("V4")
        .with_metadata(METADATA, {"consumerVersion": version_of(consumer)})
    )


@contextmanager
def mock_server(pact: Pact) -> Iterator[PactServer]:
    """Pact's mock server for ``pact`` on 127.0.0.1; on exit, ``MismatchesError`` unless every
    expected request came, and nothing else did."""
    with pact.serve(addr="127.0.0.1", verbose=False) as server:
        yield server


def instance_of(service: str, server: PactServer) -> InstanceInfo:
    """The mock server as an instance of ``service``: what a consumer's discovery hook returns."""
    return instance_at(service, str(server.url))


def write(pact: Pact, folder: Path) -> None:
    """Add ``pact``'s interactions to its pair's file in ``folder`` (merged with the other tests')."""
    folder.mkdir(parents=True, exist_ok=True)
    pact.write_file(folder, overwrite=False)
