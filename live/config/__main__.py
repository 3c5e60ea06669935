"""``python -m live.config``: the config service of a stack (started by the supervisor).

The write token and the environment's name come from the state folder (``live up`` prepares both,
see :mod:`live.config.preparation`); the values of run-time writes live in the service's SQLite file.
"""

from fastapi import FastAPI

from live.common.server import serve_from_env
from live.common.settings import InstanceSettings
from live.config.app import create_app
from live.config.environments import EnvironmentFileError, load_environment
from live.config.preparation import config_token, environment_of
from live.config.store import ConfigStore


def build(settings: InstanceSettings) -> FastAPI:
    token = config_token(settings.state_dir)
    if not token:
        raise SystemExit(
            f"no config token in {settings.state_dir / 'secrets'}: start the stack with `servicelab live up`"
        )
    environment = environment_of(settings.state_dir)
    try:
        values = load_environment(environment)
    except EnvironmentFileError as error:
        raise SystemExit(str(error)) from None
    return create_app(ConfigStore(settings.database, values), token, environment=environment)


if __name__ == "__main__":
    serve_from_env(build)
