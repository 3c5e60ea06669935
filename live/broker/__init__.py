"""The embedded broker service (FastAPI): :class:`live.events.embedded.EmbeddedBroker` over HTTP.

:mod:`live.broker.app` is the HTTP API; ``python -m live.broker`` runs the stack's one instance,
registered as ``broker``; :class:`live.events.client.BrokerClient` is its client.
"""
