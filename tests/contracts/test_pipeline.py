"""The sample delivery pipeline (live/deploy/pipeline.yml): its stages in order, its commands real."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from contracts.cli import app
from contracts.providers import PROVIDERS

PIPELINE = Path(__file__).resolve().parents[2] / "live" / "deploy" / "pipeline.yml"
STAGES = (
    "lint",
    "unit-tests",
    "consumer-contracts",
    "provider-verification",
    "can-i-deploy",
    "build",
    "deploy",
)


@pytest.fixture(scope="module")
def jobs() -> dict[str, Any]:
    return yaml.safe_load(PIPELINE.read_text(encoding="utf-8"))["jobs"]


def _needs(job: dict[str, Any]) -> set[str]:
    needs = job.get("needs", [])
    return {needs} if isinstance(needs, str) else set(needs)


def _upstream(jobs: dict[str, Any], name: str) -> set[str]:
    found: set[str] = set()
    for need in _needs(jobs[name]):
        found |= {need} | _upstream(jobs, need)
    return found


def test_every_stage_is_there_and_each_waits_for_the_ones_before_it(jobs: dict[str, Any]) -> None:
    assert tuple(jobs) == STAGES
    assert _upstream(jobs, "provider-verification") >= {"consumer-contracts", "lint"}
    assert _upstream(jobs, "can-i-deploy") >= {"provider-verification", "consumer-contracts"}
    assert _upstream(jobs, "build") >= {"unit-tests", "can-i-deploy"}
    assert _upstream(jobs, "deploy") >= set(STAGES) - {"deploy"}


def test_every_provider_is_verified(jobs: dict[str, Any]) -> None:
    assert jobs["provider-verification"]["strategy"]["matrix"]["provider"] == list(PROVIDERS)


def test_the_contract_commands_it_runs_exist_with_those_options(jobs: dict[str, Any]) -> None:
    commands = {c.name or c.callback.__name__: c for c in app.registered_commands}  # type: ignore[union-attr]
    runs = [step["run"] for job in jobs.values() for step in job["steps"] if "run" in step]
    used = [shlex.split(line) for run in runs for line in run.splitlines() if "servicelab contracts" in line]
    assert {words[2] for words in used} == {"consumers", "verify", "matrix"}
    for words in used:
        command = typer.main.get_command_from_info(
            commands[words[2]], pretty_exceptions_short=True, rich_markup_mode=None
        )
        known = {option for param in command.params for option in param.opts}
        given = {word for word in words[3:] if word.startswith("--")}
        assert given <= known, (words, known)


def test_every_stage_is_explained_in_a_comment() -> None:
    text = PIPELINE.read_text(encoding="utf-8")
    for number, stage in enumerate(STAGES, start=1):
        comment = re.search(rf"  # Stage {number}, [^:\n]+: .*\n(  #.*\n)*  {re.escape(stage)}:\n", text)
        assert comment, f"stage {number} ({stage}) has no explaining comment just before it"
