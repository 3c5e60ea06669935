"""``python -m simulator`` is ``servicelab sim``."""

from servicelab_cli import run_app
from simulator.cli import app

run_app(app)
