"""Replaying the pacts of one provider against it: pact-python's ``Verifier``, and what it found.

:func:`verify` runs one verification: every interaction of every given pact naming the provider is
set up through the provider's state handler, replayed against the provider's base URL (HTTP) or asked
of its message producer (messages), and the answer compared with what the consumer expects.

Pitfalls, settled here:

* ``Verifier(name, host=...)`` must be given the host of the URL it verifies: the verifier's host
  defaults to ``localhost``, and ``add_transport(url="http://127.0.0.1:...")`` then fails with "Host
  mismatch". :func:`verify` takes the host from the URL.
* Where the mismatch text goes: a failed verification raises a bare ``RuntimeError("Failed to
  execute verifier for VerifierHandle(...)")``. The readable report (which interaction, which field,
  expected and actual) is in ``verifier.output()`` (the core also prints it to the process's
  stdout), the same as structured data in ``verifier.results``. :class:`Verification` keeps both, so
  a test can ``assert verification.ok, verification.report`` and pytest shows the mismatches.
* State handler parameter names: pact-python passes ``state``, ``action`` and ``parameters`` *by
  name* when the function declares them so (a handler ``def setup(name, params)`` gets nothing it
  expects, only a warning). Handlers here are ``(state, action, parameters)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pact import Verifier

from contracts.offline import go_offline
from contracts.pactfiles import PactFile
from contracts.providers.serving import Serving

__all__ = ["ContractBrokenError", "Failure", "Verification", "verify"]


@dataclass(frozen=True)
class Failure:
    """One mismatch: in ``interaction``, at ``path`` (``$.items[0].sku``, or empty), ``mismatch``."""

    interaction: str
    path: str
    mismatch: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.interaction}: {where}{self.mismatch}"


class ContractBrokenError(AssertionError):
    """A verification failed; the message lists every mismatch, then the verifier's full report."""


@dataclass(frozen=True)
class Verification:
    """What one verification run found. ``report`` is the verifier's readable text."""

    provider: str
    provider_version: str
    pacts: tuple[PactFile, ...]
    ok: bool
    report: str
    failures: tuple[Failure, ...] = field(default=())

    def summary(self) -> str:
        """One line per mismatch (or ``verified``), for messages and assertions."""
        if self.ok:
            return f"{self.provider} {self.provider_version}: verified"
        lines = [f"{self.provider} {self.provider_version}: verification failed"]
        lines += [f"  - {failure}" for failure in self.failures] or ["  (no mismatch reported: see report)"]
        return "\n".join(lines)

    def check(self) -> None:
        """Raise :class:`ContractBrokenError` (an AssertionError: pytest prints its text) unless verified."""
        if not self.ok:
            raise ContractBrokenError(f"{self.summary()}\n\nverifier report:\n{self.report}")


def _failures(results: Mapping[str, Any]) -> tuple[Failure, ...]:
    found = []
    for error in results.get("errors") or []:
        interaction = str(error.get("interaction", ""))
        detail = error.get("mismatch") or {}
        mismatches = detail.get("mismatches")
        if not mismatches:  # an error rather than mismatches: a failed state change, a refused connection
            found.append(Failure(interaction, "", str(detail.get("message") or detail)))
            continue
        for mismatch in mismatches:
            path = str(mismatch.get("path") or mismatch.get("key") or "")
            found.append(Failure(interaction, path, str(mismatch.get("mismatch", mismatch))))
    return tuple(found)


def verify(
    provider: str,
    serving: Serving,
    pacts: Sequence[PactFile],
    *,
    provider_version: str,
    broker_url: str | None = None,
) -> Verification:
    """Verify ``provider`` as ``serving`` runs it against ``pacts`` (those naming another provider are
    left out) and, with ``broker_url``, against the pacts a Pact Broker holds for it (results published
    there)."""
    go_offline()
    chosen = tuple(p for p in pacts if p.provider == provider)
    host = urlsplit(serving.url).hostname or "127.0.0.1"
    verifier = (
        Verifier(provider, host=host)
        .add_transport(url=serving.url)
        .state_handler(serving.states, teardown=True)
        .set_coloured_output(enabled=False)
        .set_request_timeout(10_000)
    )
    if serving.headers:
        verifier.add_custom_headers(dict(serving.headers))
    if serving.messages:
        verifier.message_handler(dict(serving.messages))
    for pact in chosen:
        verifier.add_source(pact.path)
    if broker_url is not None:
        verifier.broker_source(broker_url, use_env=False)
        verifier.set_publish_options(version=provider_version)
    if not chosen and broker_url is None:
        return Verification(provider, provider_version, chosen, False, f"no pact names {provider}")
    problems = serving.states.problems
    del problems[:]
    try:
        verifier.verify()
        ok = True
    except RuntimeError:  # the core's generic failure; what failed is in output() and results
        ok = False
    report = verifier.output(strip_ansi=True)
    failures = _failures(verifier.results) + tuple(Failure("provider state", "", p) for p in problems)
    return Verification(provider, provider_version, chosen, ok and not problems, report, failures)
