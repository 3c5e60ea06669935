"""``python -m live.inventory``: one inventory process, configured by the environment the supervisor sets.

In the stack it consumes the orders stream from the stack's broker (:func:`live.events.choice.broker_for`).
"""

from aiohttp import web

from live.common.server import serve_from_env
from live.common.settings import InstanceSettings
from live.events.choice import broker_for
from live.inventory.app import create_app


def build(settings: InstanceSettings) -> web.Application:
    return create_app(settings, broker=broker_for(settings) if settings.registry_url else None)


if __name__ == "__main__":
    serve_from_env(build)
