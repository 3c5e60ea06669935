"""Brokers at run time: publish steps, channels (``patterns.messaging``), consumers, message records.

The schema and the model are in :mod:`simulator.messaging`. Here:

* :class:`PublishNode` is the compiled ``publish`` step: a :class:`_Publish` event carries the message
  to the broker (hop, then ``publish_time``), stores it in the channel(s) and returns the confirm to
  the publisher (hop back);
* each queue is a :class:`patterns.messaging.Queue`, each topic a :class:`~patterns.messaging.Topic`
  whose consumer groups are the channels of its consumers; the channels' ``on_settled`` writes the
  ``messages`` records;
* a :class:`_ConsumerRun` subscribes every live replica of its service as ``(replica, incarnation)``,
  pushes each delivery to that replica (:meth:`Station.deliver`) as a call whose request and
  continuation is a :class:`_Handling`, acks or nacks when the handling ends, and arms the delivery's
  ack timeout. It watches the station: a crash unsubscribes the replica (its deliveries then wait
  for their ack timeouts), a restart subscribes it again;
* :meth:`Brokers.publish_appends` subscribes to the event stores whose ``event_store.publish`` names
  a queue or topic, and publishes each committed append there (a CQRS write side's feed).

Nothing here exists for a scenario without brokers: the engine then builds no :class:`Brokers`.
"""

from __future__ import annotations

from collections.abc import Callable
from math import nan
from typing import TYPE_CHECKING

import simpy
from simpy.core import NORMAL
from simpy.events import Event

from patterns.eventsourcing import EventStore
from patterns.messaging import Channel, ConsumerGroup, Delivery, Message, Queue, Settled, Topic
from simulator.distributions import Uniform
from simulator.engine.calls import Call, CallNode
from simulator.engine.stations import Station
from simulator.messaging import Consumer, PublishTarget
from simulator.records import MESSAGE, MESSAGE_OUTCOMES, Outcome

if TYPE_CHECKING:
    from simulator.engine.build import Engine
    from simulator.engine.protocols import Continuation, Plan
    from simulator.engine.sources import Request

__all__ = ["Brokers", "PublishNode"]

_UNIT = Uniform(dist="uniform", low=0.0, high=1.0)
_CODE = {name: code for code, name in enumerate(MESSAGE_OUTCOMES)}
_NEVER = float("inf")


class _Line:
    """One channel as the engine sees it: the pattern object, its record code, its poison coin."""

    __slots__ = ("broker", "channel", "code", "coin", "consumer", "name", "poison", "poisoned")

    def __init__(self, name: str, broker: str, code: int) -> None:
        self.name, self.broker, self.code = name, broker, code
        self.channel: Channel | None = None
        self.consumer: _ConsumerRun | None = None
        self.poison, self.coin = 0.0, None
        self.poisoned: set[int] = set()

    def arrived(self, message_id: int) -> None:
        """A message is stored: draw whether it is poison for this channel's consumer."""
        if self.coin is not None and self.coin() < self.poison:
            self.poisoned.add(message_id)


class Brokers:
    """Every broker of one replication: channels by name, consumers, and the message records."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.env = engine, engine.env
        scenario = engine.scenario
        self.next_id = 0
        self.lines: dict[str, _Line] = {}
        self.queues: dict[tuple[str, str], tuple[Queue, _Line]] = {}
        self.topics: dict[tuple[str, str], tuple[Topic, list[_Line]]] = {}
        codes, times = engine.recorder.message_codes.extend, engine.recorder.message_times.extend
        self._codes, self._times = codes, times
        for broker, config in scenario.brokers.items():
            for name, queue in config.queues.items():
                line = self.line(name, broker)
                channel = Queue(name, engine.clock, queue.ttl, queue.max_deliveries, self.recorder(line))
                line.channel = channel
                self.queues[broker, name] = (channel, line)
            for name, topic in config.topics.items():
                self.topics[broker, name] = (Topic(name, topic.partitions, engine.clock), [])
        for consumer in scenario.consumers:
            if consumer.topic is not None:
                topic, lines = self.topics[consumer.broker, consumer.topic]
                line = self.line(consumer.channel, consumer.broker)
                limit = scenario.brokers[consumer.broker].topics[consumer.topic].max_deliveries
                line.channel = topic.group(consumer.group or consumer.name, limit, self.recorder(line))
                lines.append(line)
            else:
                line = self.queues[consumer.broker, consumer.queue or ""][1]
            if consumer.poison > 0:
                line.poison, line.coin = consumer.poison, engine.sampler(f"poison:{line.name}", _UNIT)
        self.consumers: list[_ConsumerRun] = []

    def start_consumers(self) -> None:
        """Compile the consumers' routes (which may publish: so only once the engine knows its brokers)
        and subscribe their replicas."""
        self.consumers = [
            _ConsumerRun(self, consumer, self.lines[consumer.channel])
            for consumer in self.engine.scenario.consumers
        ]

    def line(self, name: str, broker: str) -> _Line:
        self.lines[name] = _Line(name, broker, len(self.lines))
        return self.lines[name]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.lines)

    @property
    def brokers_of_lines(self) -> tuple[str, ...]:
        return tuple(line.broker for line in self.lines.values())

    def recorder(self, line: _Line) -> Callable[[Settled], None]:
        """The channel's ``on_settled``: one ``messages`` row per message that leaves it."""
        codes, times, code = self._codes, self._times, line.code

        def record(settled: Settled) -> None:
            message = settled.message
            poison = message.id in line.poisoned
            if poison:
                line.poisoned.discard(message.id)
            outcome = _CODE[settled.outcome]
            codes((message.id, message.payload, code, message.partition, poison, settled.deliveries, outcome))  # type: ignore[arg-type]
            times((message.published, settled.first_delivered, settled.time))

        return record

    # --- publishing ------------------------------------------------------------------------------

    def publish_node(self, target: PublishTarget, caller: str) -> PublishNode:
        engine = self.engine
        broker = engine.scenario.brokers[target.broker]
        latency = engine.latency(caller, target.broker)  # both ways, as for a call on that edge
        return PublishNode(self, engine.env, target, latency, latency, broker.publish_time)

    def store(self, target: PublishTarget, request: Request) -> None:
        """The message of ``request`` reaches its queue or topic; consumers hear of it."""
        message_id = self.next_id
        self.next_id += 1
        key = request.key if request.key != -1 else request.id
        if target.queue is not None:
            queue, line = self.queues[target.broker, target.queue]
            queue.publish(message_id, key, request.id)
            line.arrived(message_id)
            if line.consumer is not None:
                line.consumer.pump()
            return
        topic, lines = self.topics[target.broker, target.topic or ""]
        topic.publish(message_id, key, request.id)
        for line in lines:
            line.arrived(message_id)
        for line in lines:
            if line.consumer is not None:
                line.consumer.pump()

    def publish_appends(self, stores: dict[str, EventStore]) -> None:
        """Event stores with ``publish``: subscribe to each, publishing every committed append (the
        appending request's message) to the target, at the commit instant."""
        for name, service in self.engine.scenario.services.items():
            config = service.event_store
            if config is None or config.publish is None or name not in stores:
                continue
            target = config.publish
            stores[name].subscribe(lambda event, target=target: self.store(target, event.data))

    # --- for the autoscaler and the end of the run -----------------------------------------------

    def backlog(self, name: str) -> int:
        """Messages of channel ``name`` (a queue, or ``topic:group``) published and not yet settled now:
        ready plus unacknowledged (for a group: its lag). Expired messages are swept out first."""
        if name not in self.lines:
            raise KeyError(f"no queue or consumer group {name!r}; known: {', '.join(self.lines) or '(none)'}")
        channel = self.lines[name].channel
        if isinstance(channel, Queue):
            channel.expire()
        return channel.backlog  # type: ignore[union-attr]

    def finish(self) -> None:
        """The run is over: expire what has expired, and record what is left as ``pending``."""
        for line in self.lines.values():
            channel = line.channel
            if isinstance(channel, Queue):
                channel.expire()
            if channel is None:
                continue
            for message in channel.pending():  # type: ignore[attr-defined]
                deliveries, first = self.progress(channel, message)
                poison = message.id in line.poisoned
                row = (message.id, message.payload, line.code, message.partition, poison, deliveries)
                self._codes((*row, _CODE["pending"]))  # type: ignore[arg-type]
                self._times((message.published, first, nan))

    @staticmethod
    def progress(channel: Channel, message: Message) -> tuple[int, float]:
        """How often a pending message was delivered by ``channel``, and when first."""
        if isinstance(channel, ConsumerGroup):
            partition = message.partition
            log = channel.topic.partitions[partition].log
            if log[channel.committed[partition]] is message:  # the partition's head: maybe in progress
                return channel.attempts[partition], channel.first[partition]
            return 0, nan
        return message.deliveries, message.first_delivered


class _Publish(Event):
    """One publish on its way: to the broker, stored, the confirm back to the publisher."""

    def __init__(self, node: PublishNode, request: Request, k: Continuation) -> None:
        self.env, self.node, self.request, self.k = node.env, node, request, k
        self._ok, self._value = True, None


class PublishNode:
    """A compiled ``publish`` step (module docstring)."""

    __slots__ = ("back", "brokers", "env", "out", "target", "work")

    def __init__(
        self,
        brokers: Brokers,
        env: simpy.Environment,
        target: PublishTarget,
        out: Callable[[], float] | None,
        back: Callable[[], float] | None,
        work: float,
    ) -> None:
        self.brokers, self.env, self.target = brokers, env, target
        self.out, self.back, self.work = out, back, work

    def start(self, request: Request, k: Continuation) -> None:
        delay = (0.0 if self.out is None else self.out()) + self.work
        if delay == 0 and self.back is None:
            self.brokers.store(self.target, request)
            k.resume(True)
            return
        event = _Publish(self, request, k)
        event.callbacks = [self.stored]
        self.env.schedule(event, NORMAL, delay)

    def stored(self, event: Event) -> None:
        publish: _Publish = event  # type: ignore[assignment]
        self.brokers.store(self.target, publish.request)
        if self.back is None:
            publish.k.resume(True)
        else:
            publish.callbacks = [self.confirmed]
            self.env.schedule(publish, NORMAL, self.back())

    @staticmethod
    def confirmed(event: Event) -> None:
        event.k.resume(True)  # type: ignore[attr-defined]


class _Handling:
    """One delivery being handled: the request of its calls, and their continuation.

    ``id``, ``client`` and ``key`` are those of the request that published the message, so the calls
    and messages its handling makes belong to the same business flow.
    """

    __slots__ = (
        "client",
        "consumer",
        "deadline",
        "degraded",
        "delivery",
        "id",
        "incarnation",
        "key",
        "outcome",
        "replica",
        "route",
    )
    span = MESSAGE  # its delivery is the root of a trace of its own, linked to the publisher's

    def __init__(self, consumer: _ConsumerRun, delivery: Delivery, replica: int, incarnation: int) -> None:
        self.consumer, self.delivery = consumer, delivery
        self.replica, self.incarnation = replica, incarnation
        self.id = delivery.message.payload
        key = delivery.message.key
        self.key = key if key != self.id else -1
        self.client = -1
        self.outcome = Outcome.ERROR
        self.degraded = False
        self.deadline = _NEVER
        self.route = consumer.config.route or ""

    def resume(self, ok: bool) -> None:
        self.consumer.handled(self, ok)


class _DeliveryNode(CallNode):
    """The visit of a message to its consumer replica: like a call, but to that replica itself."""

    __slots__ = ()

    def send(self, call: Call) -> None:
        if self.latency is None:
            self.station.deliver(call, call.request.replica)  # type: ignore[attr-defined]
        else:
            call.callbacks = [self.arrive]
            self.schedule(call, NORMAL, self.latency())

    def arrive(self, call: Call) -> None:
        self.station.deliver(call, call.request.replica)  # type: ignore[attr-defined]


class _ConsumerRun:
    """A consumer at run time: its service's live replicas subscribed to one channel (module docstring)."""

    def __init__(self, brokers: Brokers, config: Consumer, line: _Line) -> None:
        engine = brokers.engine
        self.brokers, self.config, self.line, self.env = brokers, config, line, engine.env
        self.channel: Channel = line.channel  # type: ignore[assignment]
        line.consumer = self
        service = engine.scenario.services[config.service]
        self.station: Station = engine.stations[config.service]
        engine.route_being_compiled = config.route or ""
        nested = (
            engine.compile(engine.scenario.routes[config.route], config.service, f"consumer:{config.name}")
            if config.route is not None
            else None
        )
        demand = engine.sampler(f"consumer:{config.name}", service.service_time)
        node = _DeliveryNode(
            engine.env, self.station, demand, engine.latency(config.broker, config.service), nested
        )
        self.plan: Plan = (
            node if engine.faults is None else engine.faults.hook(config.broker, config.service, node)
        )
        self.keys: dict[int, tuple[int, int]] = {}  # subscribed replicas (an autoscaler adds more)
        for replica in self.station.replicas:
            if replica.alive:
                self.join(replica.index)
        self.station.watchers.append(self.watch)

    def join(self, index: int) -> None:
        key = (index, self.station.replicas[index].incarnation)
        self.keys[index] = key
        self.channel.subscribe(key, self.config.prefetch, self.config.ack_timeout)

    def watch(self, index: int, alive: bool) -> None:
        """The station's replica ``index`` crashed or restarted, or (autoscaled) became ready or drains."""
        key = self.keys.get(index)
        if not alive and key is not None:
            del self.keys[index]
            # what it held: a crashed replica's deliveries wait for their ack timeouts; a draining
            # one (autoscaling) finishes and acks them, since its incarnation stays the same
            self.channel.unsubscribe(key, requeue=False)
        elif alive and key is None:
            self.join(index)
            self.pump()

    def pump(self) -> None:
        """Carry out whatever deliveries the channel has for the subscribers now."""
        for delivery in self.channel.dispatch():
            index, incarnation = delivery.consumer  # type: ignore[misc]
            handling = _Handling(self, delivery, index, incarnation)
            timer = self.env.timeout(self.config.ack_timeout)
            timer.callbacks.append(lambda _, d=delivery: self.timed_out(d))  # type: ignore[misc]
            self.plan.start(handling, handling)  # type: ignore[arg-type]

    def handled(self, handling: _Handling, ok: bool) -> None:
        """The handling ended: ack or nack, unless the replica died under it (then the timeout decides)."""
        replica = self.station.replicas[handling.replica]
        if replica.incarnation != handling.incarnation:
            return
        ok = ok and handling.delivery.message.id not in self.line.poisoned
        if ok:
            self.channel.ack(handling.delivery)
        else:
            self.channel.nack(handling.delivery)
        self.pump()

    def timed_out(self, delivery: Delivery) -> None:
        if self.channel.time_out(delivery):
            self.pump()
