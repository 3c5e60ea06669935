"""``python -m live.orders``: one orders process, configured by the environment the supervisor sets.

Inventory's instances come from the registry through the stack's cached discovery (which also routes
calls through the chaos proxies when ``live up --chaos`` put some in place).
"""

from live.common.observability import instrument
from live.common.registry_client import discovery_for
from live.common.server import serve
from live.common.settings import InstanceSettings
from live.orders.app import create_app


def main() -> None:
    settings = InstanceSettings.from_env()
    if settings.registry_url is None:
        raise SystemExit(
            "orders needs SERVICELAB_REGISTRY_URL to find inventory: start it with `servicelab live up`"
        )
    app = create_app(settings, discover=discovery_for(settings).instances)
    instrument(app, settings)
    serve(app, settings)


if __name__ == "__main__":
    main()
