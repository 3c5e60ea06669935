"""Per-environment configuration files: ``environments/base.yaml`` and one overlay per environment.

The environment a stack runs in (``live up --env dev|test|prod``, dev by default) picks the overlay.
Both files are nested YAML mappings, flattened into dotted keys (``gateway: {rate_limit: {rate: 5}}``
is the key ``gateway.rate_limit.rate``); the overlay's keys replace the base's. The result is the
store's environment layer (:class:`live.config.store.ConfigStore`): read once when the service starts,
beneath every run-time write.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ENVIRONMENTS", "FOLDER", "KEY", "EnvironmentFileError", "flatten", "load_environment"]

ENVIRONMENTS = ("dev", "test", "prod")
FOLDER = Path(__file__).with_name("environments")
KEY = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")
"""A key: dot-separated segments of a-z, 0-9, ``_`` and ``-``, such as ``gateway.rate_limit.rate``."""


class EnvironmentFileError(ValueError):
    """An environment that does not exist, or a file that is not a mapping of valid keys."""


def flatten(data: Any, source: str, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys; leaves (lists, scalars, empty mappings) as their values."""
    if not isinstance(data, dict):
        raise EnvironmentFileError(f"{source}: expected a mapping of settings, got {type(data).__name__}")
    flat: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{prefix}{name}"
        if not KEY.match(key):
            raise EnvironmentFileError(f"{source}: {key!r} is not a key (segments of a-z, 0-9, _ and -)")
        if isinstance(value, dict) and value:
            flat.update(flatten(value, source, key + "."))
        else:
            flat[key] = value
    return flat


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise EnvironmentFileError(f"{path}: cannot read the file: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise EnvironmentFileError(f"{path}: not valid YAML: {error}") from None
    return flatten(data or {}, str(path))


def load_environment(name: str, folder: Path = FOLDER) -> dict[str, Any]:
    """The values of environment ``name``: ``base.yaml`` with ``<name>.yaml`` on top."""
    if name not in ENVIRONMENTS:
        raise EnvironmentFileError(f"unknown environment {name!r}; known: {', '.join(ENVIRONMENTS)}")
    return {**_read(folder / "base.yaml"), **_read(folder / f"{name}.yaml")}
