"""``python -m live.gateway``: the gateway process of a stack (started by the supervisor).

The configuration is the YAML file named by ``SERVICELAB_CONFIG_FILE``, else the bundled
``gateway.yaml``; a file with problems prints them as ``• field: message`` lines and exits with 1.
Instances are looked up in the registry (``SERVICELAB_REGISTRY_URL``), each answer reused for the
configured ``discovery.refresh_interval``, and reached through the proxies of ``edges.json`` when a
chaos experiment put some in the way; breaker states go to the ``circuit_breaker_state`` metric.
While it runs, it follows the config service's ``gateway.*`` keys (:mod:`live.gateway.live_config`).
"""

import sys

from aiohttp import web

from live.common.config_client import ConfigWatcher, locate_config
from live.common.edges import EdgeMap
from live.common.instances import InstanceInfo
from live.common.observability import instrument
from live.common.registry_client import registry_client_for
from live.common.server import serve_from_env
from live.common.settings import InstanceSettings
from live.gateway.app import GATEWAY, create_app
from live.gateway.config import DEFAULT_CONFIG, GatewayConfigError, load_gateway_config
from live.gateway.live_config import PREFIX, LiveGatewayConfig


def build(settings: InstanceSettings) -> web.Application:
    try:
        config = load_gateway_config(settings.config_file or DEFAULT_CONFIG)
    except GatewayConfigError as error:
        print(error.render(), file=sys.stderr)
        raise SystemExit(1) from None
    if not settings.registry_url:
        raise SystemExit("the gateway finds services through the registry: set SERVICELAB_REGISTRY_URL")
    registry = registry_client_for(settings)
    edges = EdgeMap(settings.state_dir, settings.service)

    async def discover(service: str) -> list[InstanceInfo]:
        return [edges.route(instance) for instance in await registry.lookup(service)]

    app = create_app(config, discover)
    observed = instrument(app, settings)
    app[GATEWAY].watch_breakers(observed.metrics.breaker)

    async def close_registry(app: web.Application) -> None:
        await registry.close()

    app.on_cleanup.append(close_registry)
    watcher = ConfigWatcher(locate_config(discover), PREFIX, LiveGatewayConfig(config, app[GATEWAY]))
    app.cleanup_ctx.append(watcher.running)
    return app


if __name__ == "__main__":
    serve_from_env(build)
