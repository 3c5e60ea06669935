"""``python -m live.orders``: one orders instance of the stack (settings from the environment).

Inventory's instances come from the registry (``SERVICELAB_REGISTRY_URL``), through the stack's
cached :class:`~live.common.registry_client.Discovery`.
"""

from live.common.registry_client import Discovery, RegistryClient
from live.common.server import serve
from live.common.settings import InstanceSettings
from live.orders.app import create_app

if __name__ == "__main__":
    settings = InstanceSettings.from_env()
    if settings.registry_url is None:
        raise SystemExit("orders needs SERVICELAB_REGISTRY_URL to find inventory")
    discovery = Discovery(RegistryClient(settings.registry_url, settings.registry_token))
    serve(create_app(settings, discover=discovery.instances), settings)
