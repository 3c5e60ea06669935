"""``python -m live.inventory``: one inventory instance of the stack (settings from the environment)."""

from live.common.server import serve
from live.common.settings import InstanceSettings
from live.inventory.app import create_app

if __name__ == "__main__":
    settings = InstanceSettings.from_env()
    serve(create_app(settings), settings)
