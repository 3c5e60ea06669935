"""``python -m live.users``: one users process, configured by the environment the supervisor sets."""

from __future__ import annotations

from live.common.observability import instrument
from live.common.server import serve
from live.common.settings import InstanceSettings
from live.users.app import create_app


def main() -> None:
    settings = InstanceSettings.from_env()
    app = create_app(settings)
    instrument(app, settings)
    serve(app, settings)


if __name__ == "__main__":
    main()
