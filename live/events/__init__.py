"""Events between services: a broker with at-least-once delivery, acks, redelivery and a dead-letter queue.

:mod:`live.events.broker` is the interface every backend implements (:class:`Broker`) and the shapes
it hands out; :mod:`live.events.embedded` is the default backend's model (the ``patterns.messaging``
queues made durable in SQLite), served by ``python -m live.broker`` and reached through
:mod:`live.events.client`; :mod:`live.events.redis` is the same interface on Redis Streams with
consumer groups; :mod:`live.events.consumer` is the loop a consuming service runs, and
:mod:`live.events.choice` picks the backend a stack process uses; :mod:`live.events.streams` names
the stack's streams.
"""
