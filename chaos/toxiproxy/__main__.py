"""``python -m chaos.toxiproxy --port PORT``: the embedded server as a process (`servicelab chaos proxy`)."""

import sys

from chaos.cli import app

if __name__ == "__main__":
    app(["proxy", *sys.argv[1:]], prog_name="python -m chaos.toxiproxy")
