"""What became of a live request, in the simulator's vocabulary (:data:`simulator.records.OUTCOMES`).

The generator sees an HTTP status, a transport failure or its own refusal to send, and names it as
the simulator names the outcome of a simulated request, so the two summaries compare figure by figure:

=================================  ===========================================================
what happened                      outcome
=================================  ===========================================================
an answer with status 1xx-3xx      ``ok``
429 Too Many Requests              ``limited`` (a rate limit refused it)
503 Service Unavailable            ``rejected`` (refused without being served: a full queue, an
                                   open breaker, a full bulkhead, no instance up -- HTTP does
                                   not say which)
408 Request Timeout, 504 Gateway   ``timeout`` (a timeout on the way ran out)
Timeout
any other 4xx or 5xx               ``error``
no answer within the generator's   ``timeout`` (status 0)
per-request timeout
connection refused, reset, a       ``error`` (status 0, the reason in ``error``)
malformed answer
max in flight already reached      ``dropped_by_generator`` (status 0, never sent): the
                                   generator's own limit, not the system's answer
=================================  ===========================================================
"""

from __future__ import annotations

from simulator.records import OUTCOMES

__all__ = ["DROPPED", "LIVE_OUTCOMES", "outcome_of_status"]

DROPPED = "dropped_by_generator"
LIVE_OUTCOMES = (*OUTCOMES, DROPPED)
"""Every outcome a live request can have: the simulator's, and the generator's own drop."""

_BY_STATUS = {429: "limited", 503: "rejected", 408: "timeout", 504: "timeout"}


def outcome_of_status(status: int) -> str:
    """The outcome of a request answered with HTTP ``status`` (table in the module docstring)."""
    if status < 400:
        return "ok"
    return _BY_STATUS.get(status, "error")
