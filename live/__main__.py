"""``python -m live`` is ``servicelab live``."""

from live.cli import app
from servicelab_cli import run_app

run_app(app)
