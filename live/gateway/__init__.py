"""The API gateway of the live stack (aiohttp): one entry point for users, orders and inventory.

``create_app(config, discover)`` builds it from a :class:`GatewayConfig` (``load_gateway_config`` reads
the YAML file, by default the bundled ``gateway.yaml``); ``python -m live.gateway`` runs it as a stack
process. The request path is described in :mod:`live.gateway.app`, the configuration in
:mod:`live.gateway.config`.
"""

from live.gateway.app import GATEWAY, create_app
from live.gateway.config import DEFAULT_CONFIG, GatewayConfig, GatewayConfigError, load_gateway_config

__all__ = [
    "DEFAULT_CONFIG",
    "GATEWAY",
    "GatewayConfig",
    "GatewayConfigError",
    "create_app",
    "load_gateway_config",
]
