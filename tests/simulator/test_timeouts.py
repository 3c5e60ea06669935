"""The edge's timeout queue: one timer at a time, every open try timed out on time, closed ones skipped."""

from __future__ import annotations

import simpy

from simulator.engine.timeouts import TimeoutQueue


class _Exchange:
    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.fired: list[tuple[str, float]] = []

    def timed_out(self, attempt: _Try) -> None:
        self.fired.append((attempt.name, self.env.now))
        attempt.open = False


class _Try:
    def __init__(self, name: str, exchange: _Exchange) -> None:
        self.name, self.exchange, self.open = name, exchange, True


def test_open_tries_time_out_in_order_and_closed_ones_never() -> None:
    env = simpy.Environment()
    exchange = _Exchange(env)
    queue = TimeoutQueue(env, 1.0)
    tries = {name: _Try(name, exchange) for name in "abcd"}
    for delay, name in ((0.0, "a"), (0.2, "b"), (0.5, "c"), (3.0, "d")):
        env.timeout(delay).callbacks.append(lambda _, n=name: queue.add(tries[n]))
    env.timeout(0.9).callbacks.append(lambda _: setattr(tries["b"], "open", False))  # b answered in time
    env.run()
    assert exchange.fired == [("a", 1.0), ("c", 1.5), ("d", 4.0)]
    assert not queue.pending
    assert not queue.armed


def test_a_retry_sent_while_timing_out_is_timed_too_with_a_single_timer() -> None:
    env = simpy.Environment()
    queue = TimeoutQueue(env, 1.0)
    timers = []

    class Retrying(_Exchange):
        def timed_out(self, attempt: _Try) -> None:
            super().timed_out(attempt)
            if len(self.fired) < 3:
                queue.add(_Try(f"retry{len(self.fired)}", self))

    exchange = Retrying(env)
    original = env.timeout

    def counting(delay: float) -> simpy.Timeout:
        timers.append(delay)
        return original(delay)

    env.timeout = counting  # type: ignore[method-assign]
    queue.add(_Try("first", exchange))
    env.run()
    assert exchange.fired == [("first", 1.0), ("retry1", 2.0), ("retry2", 3.0)]
    assert timers == [1.0, 1.0, 1.0]  # one timer per expiry, never two at once
