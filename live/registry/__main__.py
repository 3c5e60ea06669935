"""``python -m live.registry``: the registry process of a stack (started by the supervisor)."""

from fastapi import FastAPI

from live.common.server import serve_from_env
from live.common.settings import InstanceSettings
from live.mesh.tls import client_ssl
from live.registry.app import RegistryConfig, create_app


def build(settings: InstanceSettings) -> FastAPI:
    token = settings.registry_token
    if not token:
        secrets = settings.state_dir / "secrets"
        raise SystemExit(f"no registry token in {secrets}: start the stack with `servicelab live up`")
    return create_app(
        token,
        RegistryConfig(loopback_only=not settings.container_mode),
        client_ssl=client_ssl(settings),
    )


if __name__ == "__main__":
    serve_from_env(build)
