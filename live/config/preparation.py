"""What ``live up`` prepares for the config service: its write token and the stack's environment.

* ``secrets/config-token`` (0600, fresh for every stack): config writes need it as a bearer token.
  It is a secret of its own, not the registry token: every process of the stack holds the registry
  token (to register itself), so with that token any service could rewrite the others' configuration;
  only the operator (the CLI, reading the state folder) holds this one.
* ``config/environment``: the name of the environment (dev, test, prod) whose file the config
  service loads at start.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from live.common.settings import read_secret, write_secret
from live.config.environments import ENVIRONMENTS

__all__ = ["DEFAULT_ENVIRONMENT", "TOKEN_SECRET", "ConfigPreparation", "config_token", "environment_of"]

DEFAULT_ENVIRONMENT = "dev"
TOKEN_SECRET = "config-token"
_ENVIRONMENT_FILE = ("config", "environment")


@dataclass(frozen=True)
class ConfigPreparation:
    """A prepare step of :class:`live.supervisor.Stack`: a fresh token, and the environment's name."""

    environment: str = DEFAULT_ENVIRONMENT

    def __post_init__(self) -> None:
        if self.environment not in ENVIRONMENTS:
            raise ValueError(f"unknown environment {self.environment!r}; known: {', '.join(ENVIRONMENTS)}")

    def __call__(self, state_dir: Path) -> None:
        write_secret(state_dir, TOKEN_SECRET, secrets.token_urlsafe(32))
        path = state_dir.joinpath(*_ENVIRONMENT_FILE)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.environment + "\n", encoding="utf-8")


def config_token(state_dir: Path) -> str | None:
    """The stack's config write token, if ``live up`` made one."""
    return read_secret(state_dir, TOKEN_SECRET)


def environment_of(state_dir: Path) -> str:
    """The environment ``live up`` chose for the stack in ``state_dir`` (dev when it chose none)."""
    try:
        return state_dir.joinpath(*_ENVIRONMENT_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return DEFAULT_ENVIRONMENT
