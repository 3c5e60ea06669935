"""``python -m live.broker``: the stack's broker process, its events in ``data/broker.sqlite3``."""

from live.broker.app import build
from live.common.server import serve_from_env

if __name__ == "__main__":
    serve_from_env(build)
