"""``python -m live.users``: one users process, configured by the environment the supervisor sets."""

from live.common.server import serve_from_env
from live.users.app import create_app

if __name__ == "__main__":
    serve_from_env(create_app)
