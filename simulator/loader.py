"""Reading scenarios: YAML text in, a validated :class:`Scenario` or a :class:`ScenarioError` out.

Every problem is reported with the dotted path of the field at fault and, when the scenario came
from YAML, the line it is on, so that a person can go straight to it. Nothing here lets an
exception other than :class:`ScenarioError` escape for a user's mistake.

Variants are applied by deep-merging their overrides into the base scenario: mappings merge key by
key, a mapping with integer keys edits a list by position (``workloads: {0: {limit: 10}}``), and
anything else replaces. A mapping that switches a distribution or arrival process to another kind
(``dist`` or ``process`` changes) replaces the old one instead of merging with it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from simulator.errors import Loc, Problem, ScenarioError
from simulator.scenario import Scenario
from simulator.topology import check_topology

__all__ = ["apply_variant", "load_scenario", "merge_overrides", "parse_scenario", "scenario_from_dict"]

_KIND_KEYS = ("dist", "process")


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
    """Drop the parts of a pydantic location that are union tags, not keys present in the data."""
    kept: list[str | int] = []
    for part in loc:
        if (isinstance(data, dict) and part in data) or (
            isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        ):
            data = data[part]
        elif isinstance(data, dict | list) and part not in _TAGS:
            kept.append(part)  # a missing or unknown key: keep it, it names the problem
            data = None
            continue
        else:
            continue
        kept.append(part)
    return tuple(kept)


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
    "float",
    "function-after",
    "function-before",
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
        key = context["discriminator"].strip("'")
        return f"unknown {key} {context['tag']!r}; expected one of {context['expected_tags']}"
    if kind == "union_tag_not_found":
        return f"needs the key {context['discriminator']}"
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


def merge_overrides(base: Any, override: Any) -> Any:
    """Deep-merge ``override`` into a copy of ``base`` (see the module docstring for the rules)."""
    if isinstance(base, dict) and isinstance(override, dict):
        if any(k in override and k in base and override[k] != base[k] for k in _KIND_KEYS):
            return copy.deepcopy(override)
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge_overrides(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(override, dict) and all(isinstance(k, int) for k in override):
        merged_list = list(base)
        for index, value in override.items():
            if not -len(base) <= index < len(base):
                raise ScenarioError(
                    [Problem((index,), f"no item {index} to override in a list of {len(base)}")]
                )
            merged_list[index] = merge_overrides(base[index], value)
        return merged_list
    return copy.deepcopy(override)


def _variant_data(data: dict[str, Any], name: str) -> dict[str, Any]:
    override = data.get("variants", {}).get(name)
    if not isinstance(override, dict):
        return data
    base = {key: value for key, value in data.items() if key != "variants"}
    merged = merge_overrides(base, override)
    merged.setdefault("name", data.get("name"))
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
                    Problem((*prefix, *p.loc), p.message, lines.line_of(prefix)) for p in error.problems
                ]
                continue
            if scenario is not None:
                problems += _validate(merged, _VariantLines(lines, prefix), base_dir, ())[1]
    if problems or scenario is None:
        raise ScenarioError(problems, source)
    object.__setattr__(scenario, "__source_data__", data)
    object.__setattr__(scenario, "__base_dir__", base_dir)
    return scenario


class _VariantLines(_Lines):
    """Line lookup for a merged variant: the override's own line if it set the field, else the base's."""

    def __init__(self, lines: _Lines, prefix: Loc) -> None:
        super().__init__(lines.root)
        self.prefix = prefix

    def line_of(self, loc: Loc) -> int | None:
        own = super().line_of((*self.prefix, *loc))
        return own if own is not None else super().line_of(loc)


def parse_scenario(text: str, source: str | None = None, base_dir: Path | None = None) -> Scenario:
    """Validate scenario YAML ``text``; ``source`` names it in messages, ``base_dir`` anchors trace files."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        raise ScenarioError(
            [Problem((), f"not valid YAML: {error.problem or error}", line)], source
        ) from None
    except yaml.YAMLError as error:
        raise ScenarioError([Problem((), f"not valid YAML: {error}")], source) from None
    finally:
        loader.dispose()
    if data is None:
        raise ScenarioError([Problem((), "the scenario is empty", 1)], source)
    return _from_data(data, _Lines(root), source, base_dir)


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
    return _from_data(copy.deepcopy(data), _Lines(None), None, base_dir)


def apply_variant(scenario: Scenario, name: str) -> Scenario:
    """The scenario as the variant ``name`` overrides it (validated when the scenario was loaded)."""
    data = getattr(scenario, "__source_data__", None)
    if data is None:
        data = scenario.model_dump(by_alias=True)
    variants = data.get("variants") or {}
    if name not in variants:
        known = ", ".join(variants) or "(none)"
        raise ScenarioError([Problem(("variants",), f"no variant {name!r}; known: {known}")])
    merged = _variant_data(data, name)
    merged["variants"] = {}
    merged["name"] = f"{merged.get('name')}[{name}]"
    return _from_data(merged, _Lines(None), None, getattr(scenario, "__base_dir__", None))
