"""Per-environment files: base.yaml with the environment's overlay on top, flattened to dotted keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from live.config.environments import ENVIRONMENTS, EnvironmentFileError, flatten, load_environment
from live.config.preparation import ConfigPreparation, config_token, environment_of


def test_each_environment_overlays_the_base_values() -> None:
    loaded = {name: load_environment(name) for name in ENVIRONMENTS}
    for values in loaded.values():
        assert values["gateway.maintenance"] is False  # from base.yaml
    rates = {name: values["gateway.rate_limit.rate"] for name, values in loaded.items()}
    assert rates == {"dev": 500, "test": 50, "prod": 100}
    assert loaded["prod"]["gateway.balancing.policy"] == "least_outstanding"
    assert "gateway.balancing.policy" not in loaded["dev"]


def test_the_overlay_wins_and_nesting_becomes_dotted_keys(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("a: {b: 1, c: 2}\nlist: [1, 2]\nempty: {}\n")
    (tmp_path / "dev.yaml").write_text("a: {c: 3}\n")
    assert load_environment("dev", tmp_path) == {"a.b": 1, "a.c": 3, "list": [1, 2], "empty": {}}


@pytest.mark.parametrize(
    ("base", "problem"),
    [("- 1\n", "expected a mapping"), ("A: 1\n", "'A' is not a key"), ("a: [\n", "not valid YAML")],
)
def test_a_bad_file_is_named_with_its_problem(tmp_path: Path, base: str, problem: str) -> None:
    (tmp_path / "base.yaml").write_text(base)
    (tmp_path / "test.yaml").write_text("")
    with pytest.raises(EnvironmentFileError, match=problem):
        load_environment("test", tmp_path)


def test_unknown_environments_are_refused_by_name() -> None:
    with pytest.raises(EnvironmentFileError, match="unknown environment 'staging'"):
        load_environment("staging")
    with pytest.raises(ValueError, match="known: dev, test, prod"):
        ConfigPreparation("staging")
    with pytest.raises(EnvironmentFileError, match="expected a mapping"):
        flatten([1], "here")


def test_preparation_writes_a_fresh_private_token_and_the_environment(tmp_path: Path) -> None:
    assert environment_of(tmp_path) == "dev"
    assert config_token(tmp_path) is None
    ConfigPreparation("prod")(tmp_path)
    first = config_token(tmp_path)
    ConfigPreparation("prod")(tmp_path)
    assert first
    assert config_token(tmp_path) != first
    assert environment_of(tmp_path) == "prod"
    assert (tmp_path / "secrets" / "config-token").stat().st_mode & 0o077 == 0
