"""Analytic twins: closed-form queueing results the simulator is checked against.

Every function here is the textbook steady-state answer for an idealised model, so a
simulation of the same model must converge to it as the run gets long. Conventions:

* rates (arrival and service) are in jobs per second, times are in seconds;
* ``arrival_rate`` is lambda, ``service_rate`` is mu (mean service time 1/mu);
* utilization rho is the fraction of time each server is busy, lambda / (c mu);
* results are *long-run means* in steady state, which exists only when rho < 1.

The models are written in Kendall notation A/S/c: arrival process / service-time
distribution / number of servers, with an infinite FIFO queue and infinite population.
``M`` means memoryless (Poisson arrivals or exponential service), ``D`` deterministic and
``G`` general (any distribution, described by its mean and variance).

Invalid input -- negative or non-finite rates, fewer than one server, routing rows that
send more than all jobs onward, or any queue with rho >= 1 -- raises ``ValueError`` naming
the offending values, because a steady state that does not exist has no metrics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "JacksonResult",
    "QueueMetrics",
    "erlang_c",
    "jackson",
    "little_l",
    "lru_hit_ratio",
    "md1",
    "mg1",
    "mm1",
    "mmc",
    "tandem",
]

_ROW_SUM_TOLERANCE = 1e-12
"""Slack allowed when checking that a routing row sums to at most 1 (float round-off)."""


@dataclass(frozen=True)
class QueueMetrics:
    """Steady-state means of one queueing station.

    Attributes:
        utilization: rho, the fraction of time each server is busy (dimensionless, < 1).
        wait: Wq, mean time an arrival spends queueing before service starts (seconds).
        sojourn: W, mean time in the system, queueing plus service (seconds).
        queue_length: Lq, mean number of jobs waiting, not counting those in service.
        in_system: L, mean number of jobs present, waiting or in service.
        p_wait: probability that an arriving job has to wait at all.

    By Little's law ``in_system == arrival_rate * sojourn`` and
    ``queue_length == arrival_rate * wait``.
    """

    utilization: float
    wait: float
    sojourn: float
    queue_length: float
    in_system: float
    p_wait: float


@dataclass(frozen=True)
class JacksonResult:
    """Steady state of an open Jackson network.

    Attributes:
        arrival_rates: total arrival rate lambda_i into each station (jobs/s), the solution
            of the traffic equations; it counts external arrivals and internal re-routings.
        stations: the M/M/c metrics of each station, fed at its ``arrival_rates`` entry.
        sojourn: mean end-to-end time (seconds) from an external arrival until that job
            leaves the network, over all its visits.
        visits: mean number of visits an external arrival makes to each station,
            lambda_i / (total external rate).
    """

    arrival_rates: tuple[float, ...]
    stations: tuple[QueueMetrics, ...]
    sojourn: float
    visits: tuple[float, ...]


def _rate(name: str, value: float, *, allow_zero: bool) -> float:
    """Return ``value`` as a float, or raise if it is not a finite rate/time of the right sign."""
    x = float(value)
    if not math.isfinite(x) or x < 0 or (x == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {x!r}")
    return x


def _servers(name: str, value: int) -> int:
    """Return ``value`` as an int, or raise unless it is an integer number of servers >= 1."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _require_stable(rho: float, context: str) -> None:
    """Raise if utilization rho >= 1: the queue then grows without bound, no steady state."""
    if rho >= 1:
        raise ValueError(f"utilization rho={rho!r} >= 1 ({context}): the queue is unstable")


def little_l(arrival_rate: float, mean_time: float) -> float:
    """Little's law L = lambda W: mean number of jobs present in any stable system.

    Holds for any arrival and service distributions and any discipline, as long as the
    system is in steady state: ``arrival_rate`` (jobs/s) times the mean time each job
    spends inside (seconds) gives the time-average number of jobs inside.
    """
    return _rate("arrival_rate", arrival_rate, allow_zero=True) * _rate(
        "mean_time", mean_time, allow_zero=True
    )


def mm1(arrival_rate: float, service_rate: float) -> QueueMetrics:
    """M/M/1: Poisson arrivals, exponential service, one server, infinite FIFO queue.

    With rho = lambda / mu the number in system is geometric, P(n) = (1 - rho) rho^n, so

        L = rho / (1 - rho),   W = 1 / (mu - lambda),
        Lq = rho^2 / (1 - rho), Wq = rho / (mu - lambda) = rho / (1 - rho) * (1 / mu),

    i.e. an arrival waits rho / (1 - rho) mean service times (9 of them at rho = 0.9).
    By PASTA an arrival finds the server busy with probability rho.
    """
    lam = _rate("arrival_rate", arrival_rate, allow_zero=True)
    mu = _rate("service_rate", service_rate, allow_zero=False)
    rho = lam / mu
    _require_stable(rho, f"arrival_rate={lam!r}, service_rate={mu!r}")
    return QueueMetrics(
        utilization=rho,
        wait=rho / (mu - lam),
        sojourn=1 / (mu - lam),
        queue_length=rho * rho / (1 - rho),
        in_system=rho / (1 - rho),
        p_wait=rho,
    )


def erlang_c(servers: int, offered_load: float) -> float:
    """Erlang C: probability that an arrival to an M/M/c queue has to wait.

    ``offered_load`` a = lambda / mu is the mean number of busy servers, in Erlangs; it must
    be below ``servers`` (c) for the queue to be stable. The textbook formula

        C(c, a) = (a^c / c!) (c / (c - a)) / (sum_{k<c} a^k / k! + (a^c / c!) (c / (c - a)))

    overflows for large c, so it is computed from the Erlang B (loss) recursion
    B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1)), which stays in [0, 1], and then
    C = c B / (c - a (1 - B)). This is stable for c in the thousands.
    """
    c = _servers("servers", servers)
    a = _rate("offered_load", offered_load, allow_zero=True)
    if a >= c:
        raise ValueError(f"offered_load={a!r} >= servers={c}: utilization a/c >= 1, the queue is unstable")
    blocking = 1.0
    for k in range(1, c + 1):
        blocking = a * blocking / (k + a * blocking)
    return c * blocking / (c - a * (1 - blocking))


def mmc(arrival_rate: float, service_rate: float, servers: int) -> QueueMetrics:
    """M/M/c: Poisson arrivals, exponential service, c identical servers, one FIFO queue.

    With a = lambda / mu Erlangs and rho = a / c per server, an arrival waits with
    probability C = ``erlang_c(c, a)`` and, given that it waits, for an exponential time
    with rate c mu - lambda (the rate at which the full group of servers drains the queue):

        Wq = C / (c mu - lambda),  W = Wq + 1 / mu,  Lq = lambda Wq,  L = lambda W = Lq + a.

    With c = 1 this is exactly M/M/1.
    """
    lam = _rate("arrival_rate", arrival_rate, allow_zero=True)
    mu = _rate("service_rate", service_rate, allow_zero=False)
    c = _servers("servers", servers)
    rho = lam / (c * mu)
    _require_stable(rho, f"arrival_rate={lam!r}, service_rate={mu!r}, servers={c}")
    p_wait = erlang_c(c, lam / mu)
    wait = p_wait / (c * mu - lam)
    sojourn = wait + 1 / mu
    return QueueMetrics(
        utilization=rho,
        wait=wait,
        sojourn=sojourn,
        queue_length=lam * wait,
        in_system=lam * sojourn,
        p_wait=p_wait,
    )


def mg1(arrival_rate: float, service_mean: float, service_variance: float) -> QueueMetrics:
    """M/G/1: Poisson arrivals, any service-time distribution, one server, FIFO.

    Only the first two moments of the service time S matter for the means. The
    Pollaczek-Khinchine mean value formula, with rho = lambda E[S] and
    E[S^2] = Var[S] + E[S]^2, is

        Wq = lambda E[S^2] / (2 (1 - rho)),  W = Wq + E[S],  Lq = lambda Wq,  L = lambda W.

    Waiting grows with service-time variance: deterministic service (variance 0) waits half
    as long as exponential service (variance E[S]^2, which reproduces M/M/1). By PASTA an
    arrival finds the server busy, and so waits, with probability rho.
    """
    lam = _rate("arrival_rate", arrival_rate, allow_zero=True)
    mean = _rate("service_mean", service_mean, allow_zero=False)
    variance = _rate("service_variance", service_variance, allow_zero=True)
    rho = lam * mean
    _require_stable(rho, f"arrival_rate={lam!r}, service_mean={mean!r}")
    wait = lam * (variance + mean * mean) / (2 * (1 - rho))
    sojourn = wait + mean
    return QueueMetrics(
        utilization=rho,
        wait=wait,
        sojourn=sojourn,
        queue_length=lam * wait,
        in_system=lam * sojourn,
        p_wait=rho,
    )


def md1(arrival_rate: float, service_time: float) -> QueueMetrics:
    """M/D/1: Poisson arrivals, every service takes exactly ``service_time`` seconds.

    The M/G/1 case with zero service variance: Wq = rho E[S] / (2 (1 - rho)), half the
    M/M/1 wait at the same utilization.
    """
    return mg1(arrival_rate, service_time, 0.0)


def _check_routing(routing: ArrayLike, n: int) -> np.ndarray:
    """Validate an n x n sub-stochastic routing matrix from which every job eventually leaves."""
    p = np.asarray(routing, dtype=float)
    if p.shape != (n, n):
        raise ValueError(f"routing must be a {n}x{n} matrix for {n} stations, got shape {p.shape}")
    not_probability = np.argwhere(~np.isfinite(p) | (p < 0) | (p > 1))
    if not_probability.size:
        i, j = not_probability[0]
        raise ValueError(f"routing[{i}][{j}]={float(p[i, j])!r} is not a probability in [0, 1]")
    row_sums = p.sum(axis=1)
    overfull = np.flatnonzero(row_sums > 1 + _ROW_SUM_TOLERANCE)
    if overfull.size:
        i = overfull[0]
        raise ValueError(
            f"routing row {i} sums to {float(row_sums[i])!r} > 1: it routes more jobs than it serves"
        )
    # The network is open only if every station has a path to a station that lets jobs leave
    # (row sum < 1); otherwise jobs circulate forever and the traffic equations are singular.
    can_leave = row_sums < 1 - _ROW_SUM_TOLERANCE
    while True:
        grown = can_leave | ((p > 0) & can_leave).any(axis=1)
        if (grown == can_leave).all():
            break
        can_leave = grown
    trapped = np.flatnonzero(~can_leave)
    if trapped.size:
        raise ValueError(
            f"stations {trapped.tolist()} can never route jobs out of the network: the network is not open"
        )
    return p


def jackson(
    external_rates: Sequence[float],
    routing: ArrayLike,
    service_rates: Sequence[float],
    servers: Sequence[int] | None = None,
) -> JacksonResult:
    """Open Jackson network: M/M/c stations linked by probabilistic routing.

    Jobs arrive from outside at station i as a Poisson stream of rate gamma_i
    (``external_rates``); station i has ``servers[i]`` exponential servers of rate mu_i
    (``service_rates``; one server each by default). A job finishing at i moves to j with
    probability ``routing[i][j]`` independently of everything else, and leaves the network
    with probability 1 - sum_j routing[i][j].

    The total arrival rates solve the traffic equations lambda = gamma + P^T lambda.
    Jackson's theorem says that, if every station is stable (lambda_i < c_i mu_i), the
    stationary distribution is a product of independent M/M/c stations each fed at rate
    lambda_i, even though the internal flows are not Poisson. Hence each station's means
    are ``mmc(lambda_i, mu_i, c_i)``, an external arrival visits station i on average
    lambda_i / Lambda times (Lambda = sum gamma), and by Little's law its end-to-end
    sojourn is sum_i L_i / Lambda = sum_i visits_i W_i.

    Raises ValueError for negative rates, a routing row summing to more than 1, a closed
    loop no job can leave, no external arrivals at all, or an unstable station.
    """
    n = len(service_rates)
    if n == 0:
        raise ValueError("service_rates must describe at least one station, got an empty sequence")
    if len(external_rates) != n:
        raise ValueError(f"external_rates has {len(external_rates)} entries for {n} stations")
    gamma = np.array(
        [_rate(f"external_rates[{i}]", g, allow_zero=True) for i, g in enumerate(external_rates)]
    )
    mu = [_rate(f"service_rates[{i}]", m, allow_zero=False) for i, m in enumerate(service_rates)]
    if servers is None:
        servers = [1] * n
    if len(servers) != n:
        raise ValueError(f"servers has {len(servers)} entries for {n} stations")
    cs = [_servers(f"servers[{i}]", c) for i, c in enumerate(servers)]
    total_external = float(gamma.sum())
    if total_external == 0:
        raise ValueError("external_rates are all 0: an open network needs some external arrivals")
    p = _check_routing(routing, n)

    # (I - P^T) is invertible for an open network and its inverse is non-negative; clip
    # round-off below zero for stations that receive no traffic.
    lam = np.maximum(np.linalg.solve(np.eye(n) - p.T, gamma), 0.0)
    for i in range(n):
        if lam[i] >= cs[i] * mu[i]:
            raise ValueError(
                f"station {i} is unstable: arrival rate {float(lam[i])!r} >= "
                f"servers * service_rate = {cs[i]} * {mu[i]!r}"
            )
    stations = tuple(mmc(float(lam[i]), mu[i], cs[i]) for i in range(n))
    return JacksonResult(
        arrival_rates=tuple(float(x) for x in lam),
        stations=stations,
        sojourn=sum(s.in_system for s in stations) / total_external,
        visits=tuple(float(x) / total_external for x in lam),
    )


def tandem(
    arrival_rate: float, service_rates: Sequence[float], servers: Sequence[int] | None = None
) -> JacksonResult:
    """Stations in series: every job visits station 0, then 1, ..., then leaves.

    A Jackson network with external arrivals only at station 0 and routing i -> i + 1 with
    probability 1. By Burke's theorem each stable M/M/c stage outputs a Poisson stream of
    rate ``arrival_rate``, so every stage sees that rate and the end-to-end sojourn is the
    sum of the stages' individual sojourns.
    """
    n = len(service_rates)
    return jackson([arrival_rate] + [0.0] * (n - 1), np.eye(n, k=1), service_rates, servers)


def lru_hit_ratio(probabilities: ArrayLike, capacity: int) -> float:
    """Hit ratio of an LRU cache of ``capacity`` items under independent requests (Che's approximation).

    With request probabilities ``p_i`` (the independent reference model, e.g. Zipf popularity), an
    item stays cached for a "characteristic time" ``T`` after its last request, where ``T`` solves
    ``sum_i (1 - exp(-p_i T)) = capacity``; item ``i`` then hits with probability ``1 - exp(-p_i T)``
    and the overall hit ratio is ``sum_i p_i (1 - exp(-p_i T))`` (Che, Tung and Wang 2002; shown
    accurate by Fricker, Robert and Roberts 2012). Time is counted in requests, so no rate is needed.
    """
    p = np.asarray(probabilities, dtype=float)
    if p.ndim != 1 or len(p) == 0 or np.any(p < 0) or not np.isclose(p.sum(), 1.0):
        raise ValueError("probabilities must be a non-empty 1-D array of non-negative numbers summing to 1")
    if capacity < 1:
        raise ValueError(f"capacity must be at least 1, got capacity={capacity}")
    if capacity >= np.count_nonzero(p):
        return 1.0

    def occupancy(t: float) -> float:
        return float(np.sum(-np.expm1(-p * t)))

    low, high = 0.0, 1.0
    while occupancy(high) < capacity:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if occupancy(middle) < capacity else (low, middle)
    return float(p @ -np.expm1(-p * high))
