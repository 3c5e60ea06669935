"""Reading scenarios: YAML text in, a validated :class:`Scenario` or a :class:`ScenarioError` out.

Every problem is reported with the dotted path of the field at fault and, when the scenario came
from YAML, the line it is on, so that a person can go straight to it. Nothing here lets an
exception other than :class:`ScenarioError` escape for a user's mistake.

Variants are applied by deep-merging their overrides into the base scenario: mappings merge key by
key, a mapping with integer keys edits a list by position (``workloads: {0: {limit: 10}}``), and
anything else replaces. A mapping that switches a distribution, arrival process, balancer or
autoscaling policy to another kind (``dist``, ``process`` or ``policy`` changes) replaces the old one
instead of merging with it. A service set to ``null`` is left out of the variant
(``services: {users-db: null}``, with the routes that called it rewritten).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from patterns.balancing import POLICIES
from simulator.errors import Loc, Problem, ScenarioError
from simulator.faults import FAULT_KINDS
from simulator.scenario import Scenario
from simulator.topology import check_topology

__all__ = ["apply_variant", "load_scenario", "merge_overrides", "parse_scenario", "scenario_from_dict"]

_KIND_KEYS = ("dist", "process", "policy")


class _Lines:
    """Maps a field path to the line where it is written, from the YAML node tree."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root

    def line_of(self, loc: Loc) -> int | None:
        node, line = self.root, None
        for part in loc:
            if node is None:
                break
            line = node.start_mark.line + 1
            node, key_line = self._child(node, part)
            line = key_line or line
        return line

    @staticmethod
    def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node | None, int | None]:
        """The node under ``part`` and the line where ``part`` itself is written."""
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    return value, key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            item = node.value[part]
            return item, item.start_mark.line + 1
        return None, None


def _data_path(loc: Loc, data: Any) -> Loc:
    """The field path that a pydantic error location points at in the data, union tags dropped.

    A tag that is also a key -- a step's kind, ``call`` or ``loop`` -- is read both ways, and the
    reading under which more of the location names real keys wins.
    """
    return _walk(loc, data)[1]


_NOWHERE = -(10**6)


def _walk(loc: Loc, data: Any) -> tuple[int, Loc]:
    if not loc:
        return 0, ()
    part, rest = loc[0], loc[1:]
    readings = [_walk(rest, data)] if _is_tag(part) else []
    if (isinstance(data, dict) and part in data) or (
        isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
    ):
        score, path = _walk(rest, data[part])
        readings.append((score + 1, (part, *path)))
    elif isinstance(data, dict) and not _is_tag(part):
        # A missing or unknown key names the problem; nothing below it exists.
        readings.append((0, (part, *(p for p in rest if not _is_tag(p)))))
    return max(readings, key=lambda reading: reading[0], default=(_NOWHERE, ()))


def _is_tag(part: str | int) -> bool:
    return isinstance(part, str) and (
        part in _TAGS or part in POLICIES or "[" in part or part.startswith("function-")
    )


_TAGS = {
    "exponential",
    "deterministic",
    "uniform",
    "lognormal",
    "gamma",
    "empirical",
    "histogram",
    "mixture",
    "poisson",
    "constant",
    "step",
    "ramp",
    "sinusoidal",
    "mmpp",
    "trace",
    "call",
    "sequence",
    "parallel",
    "branch",
    "loop",
    "publish",
    "float",
    *FAULT_KINDS,
}


_BOUNDS = {
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "more than"),
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
}


def _message(error: dict[str, Any], loc: Loc) -> str:
    kind, message, context = error["type"], error["msg"], error.get("ctx", {})
    if kind == "extra_forbidden":
        return f"unknown key {loc[-1]!r}" if loc else "unknown key"
    if kind == "missing":
        return "required but missing"
    if kind == "union_tag_invalid":
        key = context["discriminator"].strip("'").removesuffix("()")  # a callable's name ends in ()
        return f"unknown {key} {context['tag']!r}; expected one of {context['expected_tags']}"
    if kind == "union_tag_not_found":
        return f"needs the key {context['discriminator'].removesuffix('()')}"
    if kind in _BOUNDS:
        name, words = _BOUNDS[kind]
        return f"must be {words} {context[name]}, got {error['input']!r}"
    if kind == "too_short":
        return f"needs at least {context['min_length']} item{'s' if context['min_length'] != 1 else ''}"
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _problems(error: ValidationError, data: Any, lines: _Lines, prefix: Loc = ()) -> list[Problem]:
    problems, seen = [], set()
    for item in error.errors(include_url=False):
        loc = _data_path(tuple(item["loc"]), data)
        message = _message(item, loc)
        if (loc, message) in seen:
            continue
        seen.add((loc, message))
        problems.append(Problem((*prefix, *loc), message, lines.line_of((*prefix, *loc))))
    return problems


def _validate(
    data: Any, lines: _Lines, base_dir: Path | None, prefix: Loc = ()
) -> tuple[Scenario | None, list[Problem]]:
    if not isinstance(data, dict):
        return None, [
            Problem(prefix, f"a scenario must be a mapping of fields, got {type(data).__name__}", 1)
        ]
    try:
        scenario = Scenario.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as error:
        return None, _problems(error, data, lines, prefix)
    problems = [
        Problem((*prefix, *p.loc), p.message, lines.line_of((*prefix, *p.loc)))
        for p in check_topology(scenario)
    ]
    return (None if problems else scenario), problems


def merge_overrides(base: Any, override: Any, loc: Loc = ()) -> Any:
    """Deep-merge ``override`` into a copy of ``base`` (see the module docstring for the rules).

    ``loc`` is where ``base`` sits in the scenario, for the message when a list index is out of range.
    """
    if isinstance(base, dict) and isinstance(override, dict):
        if any(k in override and k in base and override[k] != base[k] for k in _KIND_KEYS):
            return copy.deepcopy(override)
        merged = dict(base)
        for key, value in override.items():
            merged[key] = (
                merge_overrides(base[key], value, (*loc, key)) if key in base else copy.deepcopy(value)
            )
        return merged
    if isinstance(base, list) and isinstance(override, dict) and all(isinstance(k, int) for k in override):
        merged_list = list(base)
        for index, value in override.items():
            if not -len(base) <= index < len(base):
                problem = Problem((*loc, index), f"no item {index} to override in a list of {len(base)}")
                raise ScenarioError([problem])
            merged_list[index] = merge_overrides(base[index], value, (*loc, index))
        return merged_list
    return copy.deepcopy(override)


def _variant_data(data: dict[str, Any], name: str) -> dict[str, Any]:
    override = data.get("variants", {}).get(name)
    if not isinstance(override, dict):
        return data
    base = {key: value for key, value in data.items() if key != "variants"}
    merged = merge_overrides(base, override)
    merged.setdefault("name", data.get("name"))
    if isinstance(merged.get("services"), dict):  # ``name: null`` takes a service out of the variant
        merged["services"] = {name: s for name, s in merged["services"].items() if s is not None}
    return merged


def _from_data(data: Any, lines: _Lines, source: str | None, base_dir: Path | None) -> Scenario:
    scenario, problems = _validate(data, lines, base_dir)
    if isinstance(data, dict) and isinstance(data.get("variants"), dict):
        for name, override in data["variants"].items():
            prefix: Loc = ("variants", str(name))
            if not isinstance(override, dict):
                problems.append(
                    Problem(prefix, "a variant must be a mapping of overrides", lines.line_of(prefix))
                )
                continue
            try:
                merged = _variant_data(data, name)
            except ScenarioError as error:
                problems += [
                    Problem((*prefix, *p.loc), p.message, lines.line_of((*prefix, *p.loc)))
                    for p in error.problems
                ]
                continue
            if scenario is not None:
                # Paths name the variant; lines point into its overrides as far as they reach.
                problems += _validate(merged, lines, base_dir, prefix)[1]
    if problems or scenario is None:
        raise ScenarioError(problems, source)
    return scenario


def parse_scenario(text: str, source: str | None = None, base_dir: Path | None = None) -> Scenario:
    """Validate scenario YAML ``text``; ``source`` names it in messages, ``base_dir`` anchors trace files."""
    try:
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        raise ScenarioError(
            [Problem((), f"not valid YAML: {error.problem or error}", line)], source
        ) from None
    except yaml.YAMLError as error:
        raise ScenarioError([Problem((), f"not valid YAML: {error}")], source) from None
    except RecursionError:
        raise ScenarioError([Problem((), _TOO_DEEP)], source) from None
    if data is None:
        raise ScenarioError([Problem((), "the scenario is empty", 1)], source)
    return _guarded(data, _Lines(root), source, base_dir)


_TOO_DEEP = "nested too deeply to be a scenario"


def _guarded(data: Any, lines: _Lines, source: str | None, base_dir: Path | None) -> Scenario:
    """:func:`_from_data`, with runaway nesting reported as a problem rather than a crash."""
    try:
        return _from_data(data, lines, source, base_dir)
    except RecursionError:
        raise ScenarioError([Problem((), _TOO_DEEP)], source) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate the scenario file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ScenarioError([Problem((), f"cannot read the file: {reason}")], str(path)) from None
    return parse_scenario(text, source=str(path), base_dir=path.parent)


def scenario_from_dict(data: dict[str, Any], base_dir: Path | None = None) -> Scenario:
    """Validate a scenario given as plain Python data (as notebooks and benchmarks build them)."""
    try:
        data = copy.deepcopy(data)
    except RecursionError:
        raise ScenarioError([Problem((), _TOO_DEEP)]) from None
    return _guarded(data, _Lines(None), None, base_dir)


def apply_variant(scenario: Scenario, name: str, base_dir: Path | None = None) -> Scenario:
    """The scenario as the variant ``name`` overrides it (validated when the scenario was loaded).

    ``base_dir`` anchors trace files that the variant names relative to the scenario file.
    """
    data = scenario.model_dump(by_alias=True)  # trace files are absolute paths by now
    variants = data.get("variants") or {}
    if name not in variants:
        known = ", ".join(variants) or "(none)"
        raise ScenarioError([Problem(("variants",), f"no variant {name!r}; known: {known}")])
    merged = _variant_data(data, name)
    merged["variants"] = {}
    merged["name"] = f"{merged.get('name')}[{name}]"
    return _from_data(merged, _Lines(None), None, base_dir)
