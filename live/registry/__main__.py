"""``python -m live.registry``: the registry process of a stack (started by the supervisor)."""

from live.common.server import serve
from live.common.settings import InstanceSettings
from live.registry.app import create_app


def main() -> None:
    settings = InstanceSettings.from_env()
    token = settings.registry_token
    if not token:
        secrets = settings.state_dir / "secrets"
        raise SystemExit(f"no registry token in {secrets}: start the stack with `servicelab live up`")
    serve(create_app(token), settings)


if __name__ == "__main__":
    main()
