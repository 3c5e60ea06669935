"""``python -m live.orders``: one orders process, configured by the environment the supervisor sets.

Inventory's instances come from the registry through the stack's cached discovery (which also routes
calls through the chaos proxies when ``live up --chaos`` put some in place); its outbox is relayed to
the stack's broker (:func:`live.events.choice.broker_for`).
"""

from fastapi import FastAPI

from live.common.registry_client import discovery_for
from live.common.server import serve_from_env
from live.common.settings import InstanceSettings
from live.events.choice import broker_for
from live.orders.app import create_app


def build(settings: InstanceSettings) -> FastAPI:
    if settings.registry_url is None:
        raise SystemExit(
            "orders needs SERVICELAB_REGISTRY_URL to find inventory: start it with `servicelab live up`"
        )
    return create_app(settings, discover=discovery_for(settings).instances, broker=broker_for(settings))


if __name__ == "__main__":
    serve_from_env(build)
