"""``python -m live.orders``: one orders process, configured by the environment the supervisor sets.

Inventory's instances come from the registry through the stack's cached discovery (which also routes
calls through the chaos proxies when ``live up --chaos`` put some in place); the config service too,
whose ``features.orders.*`` flags the process follows while it runs; its outbox is relayed to the
stack's broker (:func:`live.events.choice.broker_for`).
"""

from fastapi import FastAPI

from live.common.config_client import locate_config
from live.common.features import FeatureFlags
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
    discover = discovery_for(settings).instances
    features = FeatureFlags("orders")
    app = create_app(settings, discover=discover, features=features, broker=broker_for(settings))
    features.follow(app, locate_config(discover))
    return app


if __name__ == "__main__":
    serve_from_env(build)
