"""``python -m live.registry``: the registry process of a stack (started by the supervisor)."""

from live.common.observability import instrument
from live.common.server import serve
from live.common.settings import InstanceSettings
from live.registry.app import create_app


def main() -> None:
    settings = InstanceSettings.from_env()
    token = settings.registry_token
    if not token:
        secrets = settings.state_dir / "secrets"
        raise SystemExit(f"no registry token in {secrets}: start the stack with `servicelab live up`")
    app = create_app(token)
    instrument(app, settings)
    serve(app, settings)


if __name__ == "__main__":
    main()
