"""``servicelab chaos run``: one Chaos Toolkit experiment against the live stack, with its journal.

:func:`load_experiment_file` reads and validates the file with chaostoolkit-lib (a broken file is an
:class:`ExperimentFileError` naming the file and the problem). :func:`chaos_stack` provides the stack:
the one running in the state folder (given proxies on its edges if it has none yet), or a fresh one
started with ``--chaos`` and stopped afterwards. :func:`run_experiment_file` runs the experiment with
chaostoolkit-lib's runner and the rollback strategy ``always``, so rollbacks run after a deviation,
a failure and Ctrl-C alike, and returns the journal with a :class:`Verdict`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chaos.extension.timeline import timeline_path
from chaos.hook import ChaosHook, chaos_of
from live.events.choice import choose_broker
from live.stacks import existing_stack
from live.supervisor import READY_TIMEOUT, Stack, StackState
from live.supervisor.prepare import preparations

__all__ = [
    "ROLLBACKS_ALWAYS",
    "ExperimentFileError",
    "Verdict",
    "chaos_stack",
    "judge",
    "load_experiment_file",
    "run_experiment_file",
]

STATE_DIR_VARIABLE = "SERVICELAB_STATE_DIR"
ROLLBACKS_ALWAYS = {"runtime": {"rollbacks": {"strategy": "always"}}}
"""chaostoolkit-lib settings: play the rollbacks whatever happened (the real CLI's
``--rollback-strategy always``)."""


class ExperimentFileError(ValueError):
    """The experiment file is missing, unreadable, or not a valid Chaos Toolkit experiment."""


def _shape_problem(experiment: dict[str, Any]) -> str:
    """The first field whose shape chaostoolkit-lib would trip over (with a TypeError), or ``""``.

    chaoslib checks what activities say, assuming the lists and mappings around them are there; a
    ``method: 3`` would reach the user as an arithmetic error instead of the field's name.
    """
    lists = {"method": experiment.get("method"), "rollbacks": experiment.get("rollbacks", [])}
    hypothesis = experiment.get("steady-state-hypothesis")
    if hypothesis is not None:
        if not isinstance(hypothesis, dict):
            return "steady-state-hypothesis: must be a mapping (title, probes)"
        lists["steady-state-hypothesis.probes"] = hypothesis.get("probes", [])
    for field, activities in lists.items():
        if not isinstance(activities, list):
            return f"{field}: must be a list of activities, got {type(activities).__name__}"
        for number, activity in enumerate(activities, start=1):
            if not isinstance(activity, dict):
                return f"{field}[{number}]: an activity is a mapping (type, name, provider), got {activity!r}"
    return ""


def load_experiment_file(path: Path) -> dict[str, Any]:
    """The experiment in ``path`` (YAML or JSON), validated by chaostoolkit-lib."""
    from chaoslib.exceptions import ChaosException
    from chaoslib.experiment import ensure_experiment_is_valid

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ExperimentFileError(f"{path}: {error.strerror or error}") from None
    try:
        experiment = yaml.safe_load(text)  # JSON is YAML too
    except yaml.YAMLError as error:
        raise ExperimentFileError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(experiment, dict):
        raise ExperimentFileError(f"{path}: an experiment is a mapping (title, description, method, ...)")
    problem = _shape_problem(experiment)
    if problem:
        raise ExperimentFileError(f"{path}: {problem}")
    try:
        ensure_experiment_is_valid(experiment)
    except ChaosException as error:
        raise ExperimentFileError(f"{path}: {error}") from None
    except (KeyError, TypeError, AttributeError) as error:  # chaoslib trips on some malformed shapes
        raise ExperimentFileError(f"{path}: malformed experiment ({type(error).__name__}: {error})") from None
    return experiment


@contextlib.contextmanager
def chaos_stack(
    state_dir: Path, *, env: str = "dev", toxiproxy_url: str | None = None, timeout: float = READY_TIMEOUT
) -> Iterator[tuple[StackState, bool]]:
    """The stack to experiment on and whether it was started here (then it is stopped at the end)."""
    stack = existing_stack(state_dir)
    if stack.running():
        if chaos_of(stack.state) is None:  # a stack started without --chaos gets its proxies now
            hook = ChaosHook(toxiproxy_url)
            stack.hooks.append(hook)
            hook.ready(stack)
        yield stack.state, False
        return
    stack = Stack(
        state_dir,
        parent_pid=os.getpid(),
        prepare=(*preparations(env), choose_broker(None)),
        hooks=[ChaosHook(toxiproxy_url)],
    )
    stack.state.options["environment"] = env
    stack.up(timeout=timeout)
    try:
        yield stack.state, True
    finally:
        stack.down()


@dataclass(frozen=True)
class Verdict:
    """Whether the experiment passed, and one message saying why (or why not)."""

    passed: bool
    message: str


def _probe_line(probe: dict[str, Any]) -> str:
    activity = probe.get("activity", {})
    return f"{activity.get('name')}: got {probe.get('output')!r}, tolerance {activity.get('tolerance')!r}"


def judge(journal: dict[str, Any]) -> Verdict:
    """The verdict of a journal: passed only if completed without deviation and no activity failed."""
    status = journal.get("status")
    states = journal.get("steady_states") or {}
    if status == "interrupted":
        return Verdict(False, "the experiment was interrupted; the rollbacks were played")
    for phase, when in (("before", "before the method"), ("after", "after the method")):
        unmet = [p for p in ((states.get(phase) or {}).get("probes") or []) if not p.get("tolerance_met")]
        if unmet:
            lines = "; ".join(_probe_line(probe) for probe in unmet)
            return Verdict(False, f"the steady-state hypothesis was violated {when}: {lines}")
    if status != "completed" or journal.get("deviated"):
        return Verdict(False, f"the experiment ended with status {status!r}")
    for phase in ("run", "rollbacks"):
        for run in journal.get(phase) or []:
            if run.get("status") == "failed":
                kind = "rollback" if phase == "rollbacks" else "activity"
                name = run.get("activity", {}).get("name")
                why = "".join(run.get("exception") or [])[-500:].strip()
                return Verdict(False, f"{kind} {name!r} failed: {why}")
    return Verdict(True, "the steady-state hypothesis held before and after the method")


def run_experiment_file(
    path: Path, state_dir: Path, *, env: str = "dev", toxiproxy_url: str | None = None
) -> tuple[dict[str, Any], Verdict]:
    """Run the experiment in ``path`` on the stack in ``state_dir`` (:func:`chaos_stack`); its journal
    and verdict. ExperimentFileError for a broken file (checked before any stack starts)."""
    from chaoslib.experiment import run_experiment

    experiment = load_experiment_file(path)
    state_dir = state_dir.resolve()
    timeline_path(state_dir).unlink(missing_ok=True)
    with chaos_stack(state_dir, env=env, toxiproxy_url=toxiproxy_url), _environment(state_dir):
        journal = run_experiment(
            experiment, settings=ROLLBACKS_ALWAYS, experiment_vars=({"state_dir": str(state_dir)}, {})
        )
    return journal, judge(journal)


@contextlib.contextmanager
def _environment(state_dir: Path) -> Iterator[None]:
    """``SERVICELAB_STATE_DIR`` set for the run: experiments without a ``state_dir`` key read it."""
    before = os.environ.get(STATE_DIR_VARIABLE)
    os.environ[STATE_DIR_VARIABLE] = str(state_dir)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(STATE_DIR_VARIABLE, None)
        else:
            os.environ[STATE_DIR_VARIABLE] = before
