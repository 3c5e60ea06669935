"""Tests for simulator.loader: YAML text in, a Scenario or a ScenarioError out.

The promise under test: every mistake a person can make in a scenario file is reported as a
:class:`ScenarioError` with one line per problem, each naming the field path and the YAML line, and
no other exception escapes. Expected lines are found in the scenario text itself (``_line``), so
each test states which line the user should be sent to.
"""

from __future__ import annotations

import copy
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.errors import Problem, ScenarioError
from simulator.loader import apply_variant, load_scenario, merge_overrides, parse_scenario, scenario_from_dict
from simulator.scenario import Scenario
from tests.simulator.bundled import SCENARIOS

BUNDLED = sorted(SCENARIOS.glob("*.yaml"))
SHOP_TEXT = (SCENARIOS / "shop.yaml").read_text(encoding="utf-8")
SHOP_DATA = yaml.safe_load(SHOP_TEXT)

BASE = """\
name: t
duration: 20s
services:
  a:
    service_time: {dist: exponential, mean: 10ms}
routes:
  main:
    - call: a
workloads:
  - route: main
    arrivals: {process: poisson, rate: 50/s}
"""


def _line(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based number of the line holding the ``occurrence``-th ``needle``."""
    found = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(found) >= occurrence, f"{needle!r} not in the scenario text"
    return found[occurrence - 1]


def _problems(text: str, source: str | None = "s.yaml") -> list[Problem]:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, source=source)
    assert caught.value.source == source
    return caught.value.problems


def _only(text: str) -> Problem:
    problems = _problems(text)
    assert len(problems) == 1, [p.render() for p in problems]
    return problems[0]


def _with(old: str, new: str, text: str = BASE) -> str:
    assert old in text
    return text.replace(old, new, 1)


TWO_SERVICES = _with("  a:\n", "  b:\n    service_time: {dist: exponential, mean: 1ms}\n  a:\n")


# --- the valid baseline and the bundled scenarios ------------------------------------------------


def test_base_scenario_is_valid() -> None:
    scenario = parse_scenario(BASE, source="s.yaml")
    assert isinstance(scenario, Scenario)
    assert scenario.name == "t"
    assert list(scenario.services) == ["a"]


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_bundled_scenario_loads_and_each_variant_applies(path: Path) -> None:
    scenario = load_scenario(path)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert scenario.name == data["name"]
    assert list(scenario.variants) == list(data.get("variants") or {})
    for name in scenario.variants:
        variant = apply_variant(scenario, name)
        assert isinstance(variant, Scenario)
        assert variant.name == f"{scenario.name}[{name}]"
        assert variant.variants == {}
        assert variant != scenario
        # The merged data is itself a valid scenario on its own.
        assert scenario_from_dict(variant.model_dump(by_alias=True)) == variant


def test_bundled_scenarios_are_found() -> None:
    assert {p.stem for p in BUNDLED} >= {"shop", "mm1", "mmc"}


def test_scenario_from_dict_accepts_the_shop_and_does_not_modify_its_input() -> None:
    data = copy.deepcopy(SHOP_DATA)
    scenario = scenario_from_dict(data)
    assert data == SHOP_DATA
    assert scenario == load_scenario(SCENARIOS / "shop.yaml")


# --- human units reach the model in base units ---------------------------------------------------


def test_human_units_are_converted_to_seconds_and_per_second() -> None:
    text = textwrap.dedent(
        """\
        name: units
        duration: 2min
        warmup: 250ms
        sample_interval: 500ms
        network:
          latency: 2ms
          edges:
            - {from: client, to: a, latency: 1.5ms}
        services:
          a:
            service_time: {dist: uniform, low: 500us, high: 0.003}
        routes:
          main:
            - call: a
        workloads:
          - route: main
            arrivals: {process: poisson, rate: 30/min}
          - route: main
            arrivals:
              process: mmpp
              states:
                - {rate: 2/ms, mean_duration: 1h}
                - {rate: 7, mean_duration: 10s}
          - route: main
            users: 3
            think_time: {dist: deterministic, value: 1.5s}
        """
    )
    scenario = parse_scenario(text)
    assert scenario.duration == 120.0
    assert scenario.warmup == 0.25
    assert scenario.interval == 0.5
    assert scenario.network.latency == pytest.approx(0.002)
    assert scenario.network.edges[0].latency == pytest.approx(0.0015)
    assert scenario.services["a"].service_time.low == pytest.approx(500e-6)
    assert scenario.services["a"].service_time.high == pytest.approx(0.003)
    assert scenario.workloads[0].arrivals.rate == pytest.approx(0.5)
    states = scenario.workloads[1].arrivals.states
    assert states[0].rate == pytest.approx(2000.0)
    assert states[0].mean_duration == 3600.0
    assert states[1].rate == 7.0
    assert states[1].mean_duration == 10.0
    assert scenario.workloads[2].think_time.value == 1.5


# --- one problem, its path and its line ----------------------------------------------------------


def test_unknown_key_names_the_key_and_its_line() -> None:
    text = _with("    service_time:", "    replica: 3\n    service_time:")
    problem = _only(text)
    assert problem.path == "services.a.replica"
    assert problem.line == _line(text, "replica:")
    assert "replica" in problem.message
    assert "unknown" in problem.message


def test_unknown_top_level_key() -> None:
    text = BASE + "replicatons: 3\n"
    problem = _only(text)
    assert problem.loc == ("replicatons",)
    assert problem.line == _line(text, "replicatons")


def test_unknown_key_inside_a_workload() -> None:
    text = _with("    arrivals:", "    limt: 10\n    arrivals:")
    problem = _only(text)
    assert problem.path == "workloads[0].limt"
    assert problem.line == _line(text, "limt")


@pytest.mark.parametrize(
    ("old", "new", "path", "words"),
    [
        ("duration: 20s", "duration: 10 parsecs", "duration", "10 parsecs"),
        ("mean: 10ms", "mean: 10 fortnights", "services.a.service_time.mean", "10 fortnights"),
        ("rate: 50/s", "rate: 50/parsec", "workloads[0].arrivals.rate", "50/parsec"),
        ("rate: 50/s", "rate: fast", "workloads[0].arrivals.rate", "fast"),
    ],
)
def test_bad_units(old: str, new: str, path: str, words: str) -> None:
    text = _with(old, new)
    problem = _only(text)
    assert problem.path == path
    assert problem.line == _line(text, new)
    assert words in problem.message


@pytest.mark.parametrize("rate", ["-5/s", "-5", "-0.5/min"])
def test_negative_rate(rate: str) -> None:
    text = _with("rate: 50/s", f"rate: {rate}")
    problem = _only(text)
    assert problem.path == "workloads[0].arrivals.rate"
    assert problem.line == _line(text, "rate:")
    assert "at least 0" in problem.message


def test_negative_duration_and_zero_concurrency() -> None:
    text = _with("duration: 20s", "duration: -20s")
    text = _with("    service_time:", "    concurrency: 0\n    service_time:", text)
    problems = {p.path: p for p in _problems(text)}
    assert set(problems) == {"duration", "services.a.concurrency"}
    assert "more than 0" in problems["duration"].message
    assert "at least 1" in problems["services.a.concurrency"].message
    assert problems["services.a.concurrency"].line == _line(text, "concurrency: 0")


def test_unknown_distribution_kind() -> None:
    text = _with("dist: exponential", "dist: weibull")
    problem = _only(text)
    assert problem.path == "services.a.service_time"
    assert problem.line == _line(text, "weibull")
    assert "'weibull'" in problem.message
    assert "exponential" in problem.message  # the known kinds are listed


def test_unknown_arrival_process_kind() -> None:
    text = _with("process: poisson", "process: hawkes")
    problem = _only(text)
    assert problem.path == "workloads[0].arrivals"
    assert problem.line == _line(text, "hawkes")
    assert "'hawkes'" in problem.message
    assert "poisson" in problem.message


def test_distribution_without_dist_key() -> None:
    text = _with("{dist: exponential, mean: 10ms}", "{mean: 10ms}")
    problem = _only(text)
    assert problem.path == "services.a.service_time"
    assert "dist" in problem.message


@pytest.mark.parametrize(
    "step",
    [
        "    - service_time: {dist: exponential, mean: 1ms}",
        "    - {}",
        "    - call: a\n      loop: [{call: a}]",
    ],
    ids=["no-kind", "empty", "two-kinds"],
)
def test_step_needs_exactly_one_kind(step: str) -> None:
    text = _with("    - call: a", step)
    problem = _only(text)
    assert problem.path == "routes.main[0]"
    assert problem.line == _line(text, "    - ")
    assert "call, sequence, parallel, branch, loop" in problem.message


def test_unknown_service_in_a_nested_call() -> None:
    text = _with("    - call: a", "    - call: a\n      calls:\n        - call: ghost")
    problem = _only(text)
    assert problem.loc == ("routes", "main", 0, "calls", 0, "call")
    assert problem.path == "routes.main[0].calls[0].call"
    assert problem.line == _line(text, "call: ghost")
    assert "'ghost'" in problem.message
    assert "known: a" in problem.message


def test_unknown_service_deep_inside_parallel_branch_and_loop() -> None:
    steps = textwrap.indent(
        textwrap.dedent(
            """\
            - parallel:
                - call: a
                - branch:
                    - probability: 0.5
                      steps:
                        - loop:
                            - call: ghost
                          times: 2
            """
        ),
        "    ",
    )
    text = _with("    - call: a\n", steps)
    problem = _only(text)
    assert problem.path == "routes.main[0].parallel[1].branch[0].steps[0].loop[0].call"
    assert problem.line == _line(text, "ghost")


def test_unknown_route_in_a_workload() -> None:
    text = _with("  - route: main", "  - route: mian")
    problem = _only(text)
    assert problem.path == "workloads[0].route"
    assert problem.line == _line(text, "mian")
    assert "'mian'" in problem.message
    assert "known: main" in problem.message


def test_call_cycle_between_two_services() -> None:
    text = _with(
        "    - call: a",
        "    - call: a\n      calls:\n        - call: b\n          calls:\n            - call: a",
        TWO_SERVICES,
    )
    problem = _only(text)
    assert "cycle" in problem.message
    # The problem points at the call that closes the ring as the message writes it.
    closing = {
        "b -> a -> b": ("routes.main[0].calls[0].call", _line(text, "- call: b")),
        "a -> b -> a": ("routes.main[0].calls[0].calls[0].call", _line(text, "- call: a", 2)),
    }
    ring = re.search(r"\b(a -> b -> a|b -> a -> b)\b", problem.message)
    assert ring, problem.message
    assert (problem.path, problem.line) == closing[ring.group(1)]


def test_self_call_is_a_cycle() -> None:
    text = _with("    - call: a", "    - call: a\n      calls:\n        - call: a")
    problem = _only(text)
    assert problem.path == "routes.main[0].calls[0].call"
    assert problem.line == _line(text, "- call: a", 2)
    assert "a -> a" in problem.message
    assert "cycle" in problem.message


def test_cycle_across_two_routes() -> None:
    text = _with(
        "routes:\n  main:\n    - call: a\n",
        "routes:\n  main:\n    - call: a\n      calls: [{call: b}]\n  other:\n"
        "    - call: b\n      calls: [{call: a}]\n",
        TWO_SERVICES,
    )
    text += "  - route: other\n    users: 1\n"
    problem = _only(text)
    assert "cycle" in problem.message
    assert re.search(r"(a -> b -> a|b -> a -> b)", problem.message)


def test_unreachable_service() -> None:
    problem = _only(TWO_SERVICES)
    assert problem.loc == ("services", "b")
    assert problem.line == _line(TWO_SERVICES, "  b:")
    assert "'b'" in problem.message
    assert "not reached" in problem.message


def test_service_reached_only_by_an_unused_route_is_unreachable() -> None:
    text = _with("routes:\n", "routes:\n  spare:\n    - call: b\n", TWO_SERVICES)
    problem = _only(text)
    assert problem.loc == ("services", "b")


@pytest.mark.parametrize("warmup", ["20s", "30s", "1min"])
def test_warmup_must_be_shorter_than_duration(warmup: str) -> None:
    text = _with("duration: 20s", f"duration: 20s\nwarmup: {warmup}")
    problem = _only(text)
    assert "warmup" in problem.message
    assert "duration" in problem.message


def test_warmup_problem_names_the_warmup_field_and_line() -> None:
    text = _with("duration: 20s", "duration: 20s\nwarmup: 30s")
    problem = _only(text)
    assert problem.path == "warmup"
    assert problem.line == _line(text, "warmup:")


def test_branch_probabilities_above_one() -> None:
    text = _with(
        "    - call: a",
        "    - branch:\n        - {probability: 0.7, steps: [{call: a}]}\n"
        "        - {probability: 0.6, steps: [{call: a}]}",
    )
    problem = _only(text)
    assert problem.path == "routes.main[0].branch"
    assert problem.line == _line(text, "- branch:")
    assert "1.3" in problem.message


def test_single_branch_probability_above_one() -> None:
    text = _with("    - call: a", "    - branch: [{probability: 1.5, steps: [{call: a}]}]")
    problem = _only(text)
    assert problem.path == "routes.main[0].branch[0].probability"
    assert "at most 1" in problem.message


@pytest.mark.parametrize(
    "workload",
    [
        "    arrivals: {process: poisson, rate: 50/s}\n    users: 3\n",
        "    limit: 3\n",
    ],
    ids=["both", "neither"],
)
def test_workload_needs_exactly_one_of_arrivals_and_users(workload: str) -> None:
    text = _with("    arrivals: {process: poisson, rate: 50/s}\n", workload)
    problem = _only(text)
    assert problem.path == "workloads[0]"
    assert problem.line == _line(text, "- route: main")
    assert "arrivals" in problem.message
    assert "users" in problem.message


def test_think_time_without_users() -> None:
    text = _with("rate: 50/s}\n", "rate: 50/s}\n    think_time: {dist: exponential, mean: 1s}\n")
    problem = _only(text)
    assert problem.path == "workloads[0]"
    assert "think_time" in problem.message


def test_unknown_network_edge_endpoint() -> None:
    text = BASE + "network:\n  edges:\n    - from: a\n      to: ghost\n      latency: 1ms\n"
    problem = _only(text)
    assert problem.path == "network.edges[0].to"
    assert problem.line == _line(text, "to: ghost")
    assert "'ghost'" in problem.message


# --- texts that are not scenarios ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("name: t\nduration: 20s\nservices:\n  a: b: c\n", 4),
        ("name: t\nduration: 20s\n  indented: 1\n", 3),
        ("name: t\nduration: 20s\nservices:\n\ta: 1\n", 4),
        ("name: t\nduration: *nope\n", 2),
        ("name: t\n---\nname: u\n", 2),
        ("name: t\nx: !!python/object:os.system {}\n", 2),
    ],
    ids=["mapping-values", "indentation", "tab", "undefined-alias", "two-documents", "python-tag"],
)
def test_not_yaml_reports_the_line(text: str, line: int) -> None:
    problem = _only(text)
    assert problem.loc == ()
    assert problem.line == line
    assert problem.message.startswith("not valid YAML")


@pytest.mark.parametrize(
    ("text", "kind"),
    [("- 1\n- 2\n", "list"), ("hello\n", "str"), ("42\n", "int"), ("[]\n", "list"), ("true\n", "bool")],
)
def test_yaml_that_is_not_a_mapping(text: str, kind: str) -> None:
    problem = _only(text)
    assert problem.loc == ()
    assert "mapping" in problem.message
    assert kind in problem.message


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "~\n", "null\n"])
def test_empty_scenario(text: str) -> None:
    problem = _only(text)
    assert problem.loc == ()
    assert "empty" in problem.message


def test_missing_sections_are_each_reported() -> None:
    problems = _problems("name: t\nduration: 20s\n")
    assert {p.path for p in problems} == {"services", "routes", "workloads"}
    assert all(p.message == "required but missing" for p in problems)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.source == str(path)
    [problem] = caught.value.problems
    assert "cannot read" in problem.message
    assert "No such file" in problem.message


def test_directory_instead_of_a_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(tmp_path)
    [problem] = caught.value.problems
    assert "cannot read" in problem.message


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(BASE.replace("name: t", "name: caf\xe9").encode("latin-1"))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    [problem] = caught.value.problems
    assert "cannot read" in problem.message
    assert "utf-8" in problem.message.lower()


def test_load_scenario_reports_the_file_name_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    text = _with("duration: 20s", "duration: 10 parsecs")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    rendered = str(caught.value).splitlines()
    assert rendered[0] == f"{path}: 1 problem in the scenario"
    assert rendered[1].startswith(f"• duration ({path}:2): ")
    assert "Traceback" not in str(caught.value)


# --- several problems at once -------------------------------------------------------------------


def test_several_schema_problems_are_all_reported_one_line_each() -> None:
    text = textwrap.dedent(
        """\
        name: many
        duration: 10 parsecs
        warmup: -1s
        services:
          a:
            replica: 3
            service_time: {dist: weibull}
          b:
            concurrency: 0
            service_time: {dist: exponential, mean: 1ms}
        routes:
          main:
            - service_time: {dist: exponential, mean: 1ms}
        workloads:
          - route: main
            arrivals: {process: poisson, rate: -5/s}
          - route: main
        """
    )
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, source="many.yaml")
    error = caught.value
    expected = {
        "duration": _line(text, "duration:"),
        "warmup": _line(text, "warmup:"),
        "services.a.replica": _line(text, "replica:"),
        "services.a.service_time": _line(text, "weibull"),
        "services.b.concurrency": _line(text, "concurrency: 0"),
        "routes.main[0]": _line(text, "- service_time"),
        "workloads[0].arrivals.rate": _line(text, "rate: -5/s"),
        "workloads[1]": _line(text, "- route: main", 2),
    }
    assert {p.path: p.line for p in error.problems} == expected
    lines = str(error).splitlines()
    assert lines[0] == f"many.yaml: {len(expected)} problems in the scenario"
    assert len(lines) == 1 + len(expected)
    for problem, rendered in zip(error.problems, lines[1:], strict=True):
        assert rendered == f"• {problem.path} (many.yaml:{problem.line}): {problem.message}"


def test_several_reference_problems_are_all_reported() -> None:
    text = _with("    - call: a", "    - call: a\n      calls:\n        - call: ghost\n        - call: a")
    text = _with("  - route: main", "  - route: mian", text)
    text += "network:\n  edges:\n    - {from: phantom, to: a, latency: 1ms}\n"
    problems = _problems(text)
    by_path = {p.path: p for p in problems}
    assert set(by_path) == {
        "routes.main[0].calls[0].call",
        "workloads[0].route",
        "network.edges[0].from",
        "routes.main[0].calls[1].call",
    }
    assert "ghost" in by_path["routes.main[0].calls[0].call"].message
    assert "mian" in by_path["workloads[0].route"].message
    assert "phantom" in by_path["network.edges[0].from"].message
    assert "a -> a" in by_path["routes.main[0].calls[1].call"].message
    assert all(p.line is not None for p in problems)


# --- variants ----------------------------------------------------------------------------------


def test_merge_overrides_deep_merges_mappings_without_touching_the_base() -> None:
    base = {"a": {"x": 1, "y": {"p": 1, "q": 2}}, "b": [1, 2]}
    frozen = copy.deepcopy(base)
    merged = merge_overrides(base, {"a": {"y": {"q": 3, "r": 4}}, "c": 5})
    assert merged == {"a": {"x": 1, "y": {"p": 1, "q": 3, "r": 4}}, "b": [1, 2], "c": 5}
    assert base == frozen


def test_merge_overrides_integer_keys_edit_a_list_by_position() -> None:
    base = {"w": [{"rate": 1, "limit": 5}, {"rate": 2}, {"rate": 3}]}
    merged = merge_overrides(base, {"w": {0: {"rate": 10}, -1: {"rate": 30}}})
    assert merged == {"w": [{"rate": 10, "limit": 5}, {"rate": 2}, {"rate": 30}]}
    assert base["w"][0] == {"rate": 1, "limit": 5}


def test_merge_overrides_a_list_replaces_a_list() -> None:
    assert merge_overrides({"w": [1, 2, 3]}, {"w": [9]}) == {"w": [9]}


def test_merge_overrides_scalar_replaces() -> None:
    assert merge_overrides({"a": {"x": 1}}, {"a": 7}) == {"a": 7}


@pytest.mark.parametrize("key", ["dist", "process"])
def test_merge_overrides_change_of_kind_replaces(key: str) -> None:
    base = {"s": {key: "old", "mean": 1, "p99": 4}}
    assert merge_overrides(base, {"s": {key: "new", "mean": 2}}) == {"s": {key: "new", "mean": 2}}
    # The same kind merges.
    assert merge_overrides(base, {"s": {key: "old", "mean": 2}}) == {"s": {key: "old", "mean": 2, "p99": 4}}
    # No kind in the override merges.
    assert merge_overrides(base, {"s": {"mean": 2}}) == {"s": {key: "old", "mean": 2, "p99": 4}}


@pytest.mark.parametrize("index", [3, -4, 100])
def test_merge_overrides_out_of_range_index(index: int) -> None:
    with pytest.raises(ScenarioError) as caught:
        merge_overrides({"w": [1, 2, 3]}, {"w": {index: 9}})
    [problem] = caught.value.problems
    assert str(index) in problem.message
    assert "3" in problem.message


def test_variant_change_of_distribution_kind_replaces_in_a_loaded_scenario() -> None:
    text = (
        BASE + "variants:\n  fixed:\n    services: {a: {service_time: {dist: deterministic, value: 5ms}}}\n"
    )
    variant = apply_variant(parse_scenario(text), "fixed")
    assert variant.services["a"].service_time.dist == "deterministic"
    assert variant.services["a"].service_time.value == pytest.approx(0.005)


def test_shop_black_friday_edits_workloads_by_position() -> None:
    shop = load_scenario(SCENARIOS / "shop.yaml")
    friday = apply_variant(shop, "black-friday")
    assert friday.workloads[0].arrivals.rate == 450.0
    assert friday.workloads[1] == shop.workloads[1]
    states = friday.workloads[2].arrivals.states
    assert [s.rate for s in states] == [40.0, 100.0]
    assert [s.mean_duration for s in states] == [10.0, 3.0]  # kept from the base
    assert shop.workloads[0].arrivals.rate == 250.0  # the base is untouched
    assert friday.services == shop.services


def test_shop_more_inventory_changes_only_replicas() -> None:
    shop = load_scenario(SCENARIOS / "shop.yaml")
    more = apply_variant(shop, "more-inventory")
    assert more.services["inventory"].replicas == 4
    assert more.services["inventory"].service_time == shop.services["inventory"].service_time
    assert more.services["inventory"].queue_capacity == 50
    assert more.workloads == shop.workloads


def test_apply_variant_unknown_name_lists_the_known_ones() -> None:
    shop = load_scenario(SCENARIOS / "shop.yaml")
    with pytest.raises(ScenarioError) as caught:
        apply_variant(shop, "cyber-monday")
    [problem] = caught.value.problems
    assert "'cyber-monday'" in problem.message
    assert "black-friday" in problem.message
    assert "more-inventory" in problem.message


def test_apply_variant_on_a_scenario_without_variants() -> None:
    with pytest.raises(ScenarioError) as caught:
        apply_variant(parse_scenario(BASE), "x")
    assert "(none)" in caught.value.problems[0].message


def test_apply_variant_on_a_scenario_from_dict() -> None:
    scenario = scenario_from_dict(SHOP_DATA)
    assert apply_variant(scenario, "more-inventory").services["inventory"].replicas == 4


def test_invalid_variant_override_is_reported() -> None:
    text = BASE + "variants:\n  tight:\n    services: {a: {concurrency: 0}}\n"
    problem = _only(text)
    assert problem.line == _line(text, "concurrency: 0")
    assert problem.path.endswith("services.a.concurrency")
    assert "at least 1" in problem.message


def test_invalid_variant_override_is_reported_under_the_variant() -> None:
    text = BASE + "variants:\n  tight:\n    services: {a: {concurrency: 0}}\n"
    problem = _only(text)
    assert problem.path == "variants.tight.services.a.concurrency"


def test_variant_warmup_problem_names_the_variant() -> None:
    text = BASE + "variants:\n  long:\n    warmup: 30s\n"
    problem = _only(text)
    assert "long" in problem.path


def test_variant_that_is_not_a_mapping() -> None:
    text = BASE + "variants:\n  v: 3\n"
    problems = _problems(text)
    assert problems
    assert all(p.path == "variants.v" for p in problems)
    assert all(p.line == _line(text, "  v: 3") for p in problems)


def test_variant_with_an_out_of_range_list_index() -> None:
    text = BASE + "variants:\n  v:\n    workloads: {5: {limit: 3}}\n"
    problem = _only(text)
    assert problem.path.startswith("variants.v")
    assert "5" in problem.message
    assert "1" in problem.message  # the list's length


def test_variant_out_of_range_index_names_the_list() -> None:
    text = BASE + "variants:\n  v:\n    workloads: {5: {limit: 3}}\n"
    problem = _only(text)
    assert problem.path == "variants.v.workloads[5]"


def test_variant_that_makes_a_service_unreachable() -> None:
    text = BASE + "variants:\n  v:\n    services: {b: {service_time: {dist: exponential, mean: 1ms}}}\n"
    problem = _only(text)
    assert problem.path.endswith("services.b")
    assert "not reached" in problem.message


def test_valid_variants_do_not_report_anything() -> None:
    text = BASE + "variants:\n  fast:\n    workloads: {0: {arrivals: {rate: 10/s}}}\n"
    scenario = parse_scenario(text)
    assert apply_variant(scenario, "fast").workloads[0].arrivals.rate == 10.0


# --- problems inside route steps are reported at the step's own field ---------------------------

_STEP_PROBLEMS = [
    ("    - call: a\n      timeout: 1s", "routes.main[0].timeout", "timeout"),
    (
        "    - call: a\n      service_time: {dist: exponential, mean: -1ms}",
        "routes.main[0].service_time.mean",
        "mean: -1ms",
    ),
    (
        "    - call: a\n      calls:\n        - call: a\n          bogus: 1",
        "routes.main[0].calls[0].bogus",
        "bogus",
    ),
    ("    - sequence: [{call: a, bogus: 1}]", "routes.main[0].sequence[0].bogus", "bogus"),
    ("    - loop: [{call: a}]\n      times: 0", "routes.main[0].times", "times: 0"),
    ("    - loop: [{call: a}]\n      bogus: 1", "routes.main[0].bogus", "bogus"),
    ("    - sequence: [{call: a}]\n      bogus: 1", "routes.main[0].bogus", "bogus"),
    (
        "    - branch: [{probability: 0.5, steps: [{call: a}]}]\n      bogus: 1",
        "routes.main[0].bogus",
        "bogus",
    ),
]


@pytest.mark.parametrize(("step", "path", "needle"), _STEP_PROBLEMS)
def test_problem_inside_a_step_names_the_right_field(step: str, path: str, needle: str) -> None:
    text = _with("    - call: a", step)
    problem = _only(text)
    assert problem.path == path
    assert problem.line == _line(text, needle)


def test_unknown_key_in_a_call_step_is_at_least_reported() -> None:
    text = _with("    - call: a", "    - call: a\n      timeout: 1s")
    problem = _only(text)
    assert problem.path.startswith("routes.main[0]")
    assert problem.line is not None


# --- inputs that once escaped as exceptions other than ScenarioError ---------------------------


@pytest.mark.parametrize(("old", "new"), [("duration: 20s", "duration: "), ("rate: 50/s", "rate: ")])
def test_huge_integer_is_a_problem_not_an_overflow(old: str, new: str) -> None:
    text = _with(old, new + "9" * 400)
    problem = _only(text)
    assert problem.line == _line(text, "9" * 400)


def test_deeply_nested_yaml_is_a_problem_not_a_recursion_error() -> None:
    _problems("name: " + "[" * 600 + "]" * 600 + "\n")


def test_trace_file_with_an_oversized_field(tmp_path: Path) -> None:
    (tmp_path / "trace.csv").write_text("timestamp\n" + "1" * 200_000 + "\n")
    text = _with("{process: poisson, rate: 50/s}", "{process: trace, file: trace.csv}")
    with pytest.raises(ScenarioError):
        parse_scenario(text, base_dir=tmp_path)


@pytest.mark.parametrize("duration", [".inf", "1e999s"])
def test_infinite_duration_is_rejected(duration: str) -> None:
    problem = _only(_with("duration: 20s", f"duration: {duration}"))
    assert problem.path == "duration"


def test_trace_file_problems(tmp_path: Path) -> None:
    (tmp_path / "ok.csv").write_text("timestamp\n1\n2.5\n")
    (tmp_path / "other.csv").write_text("t\n1\n")
    ok = _with("{process: poisson, rate: 50/s}", "{process: trace, file: ok.csv}")
    assert list(parse_scenario(ok, base_dir=tmp_path).workloads[0].arrivals.times(None)) == [0.0, 1.5]
    for name, words in [("missing.csv", "does not exist"), ("other.csv", "no column 'timestamp'")]:
        text = _with("{process: poisson, rate: 50/s}", f"{{process: trace, file: {name}}}")
        with pytest.raises(ScenarioError) as caught:
            parse_scenario(text, base_dir=tmp_path)
        [problem] = caught.value.problems
        assert problem.path == "workloads[0].arrivals.file" or problem.path == "workloads[0].arrivals"
        assert words in problem.message


# --- property-based: nothing but ScenarioError escapes ------------------------------------------

_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "exponential",
            "lognormal",
            "mixture",
            "poisson",
            "mmpp",
            "trace",
            "10ms",
            "-1s",
            "0",
            "30/min",
            "0/s",
            "gateway",
            "database",
            "users",
            "browse",
            "checkout",
            "client",
            "call",
            "calls",
            "loop",
            "branch",
            "parallel",
            "sequence",
            "dist",
            "process",
        ]
    )
)
_JUNK = st.recursive(
    _LEAVES,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=8) | st.sampled_from(["call", "dist", "rate"]), children, max_size=4
        )
        | st.dictionaries(st.integers(-3, 4), children, max_size=3)
    ),
    max_leaves=12,
)


def _paths(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value below the root (dict keys and list indexes)."""
    found = []
    if isinstance(node, dict):
        items = list(node.items())
    elif isinstance(node, list):
        items = list(enumerate(node))
    else:
        items = []
    for key, value in items:
        found.append((*here, key))
        found += _paths(value, (*here, key))
    return found


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        data = data[key]
    return data


@st.composite
def _mutated_shop(draw: st.DrawFn) -> dict[str, Any]:
    data = copy.deepcopy(SHOP_DATA)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        operation = draw(st.sampled_from(["replace", "delete", "insert"]))
        path = draw(st.sampled_from(paths))
        parent = _parent(data, path)
        if operation == "replace":
            parent[path[-1]] = draw(_JUNK)
        elif operation == "delete":
            del parent[path[-1]]
        else:
            target = parent[path[-1]]
            key = draw(st.text(min_size=1, max_size=10) | st.integers(-2, 5))
            if isinstance(target, dict):
                target[key] = draw(_JUNK)
            elif isinstance(target, list):
                target.insert(draw(st.integers(0, len(target))), draw(_JUNK))
            else:
                parent[path[-1]] = {key: draw(_JUNK)}
        if not data:
            break
    return data


def _check_error(error: ScenarioError, text: str | None = None) -> None:
    assert error.problems
    # YAML breaks lines at \r\n, \n, \r, NEL, LS and PS.
    last_line = None if text is None else len(re.split("\r\n|[\n\r\x85\u2028\u2029]", text))
    for problem in error.problems:
        assert isinstance(problem.message, str)
        assert problem.message.strip()
        assert problem.line is None or (isinstance(problem.line, int) and problem.line >= 1)
        assert problem.line is None or last_line is None or problem.line <= last_line
    rendered = error.render()
    assert len(rendered.splitlines()) >= 1 + len(error.problems)
    assert "Traceback" not in rendered


# Any character, including those YAML forbids in a stream (NUL, other controls, U+FFFE): they must
# become a ScenarioError like every other malformed input.
_YAML_CHARS = st.characters(blacklist_categories=("Cs",))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated_shop())
def test_mutated_shop_gives_a_scenario_or_a_scenario_error(data: dict[str, Any]) -> None:
    try:
        scenario = scenario_from_dict(data)
    except ScenarioError as error:
        _check_error(error)
    else:
        assert isinstance(scenario, Scenario)
        assert scenario.duration > 0
        assert scenario.services


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated_shop())
def test_mutated_shop_as_yaml_text_gives_a_scenario_or_a_scenario_error(data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    try:
        parse_scenario(text, source="mutated.yaml")
    except ScenarioError as error:
        _check_error(error, text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=_YAML_CHARS))
def test_random_text_gives_only_scenario_errors(text: str) -> None:
    try:
        parse_scenario(text)
    except ScenarioError as error:
        _check_error(error, text)


@settings(max_examples=150, deadline=None)
@given(_JUNK)
def test_random_yaml_structures_give_only_scenario_errors(structure: Any) -> None:
    text = yaml.safe_dump(structure, allow_unicode=True)
    try:
        parse_scenario(text)
    except ScenarioError as error:
        _check_error(error, text)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_shop_text_with_random_edits_gives_only_scenario_errors(data: st.DataObject) -> None:
    text = SHOP_TEXT
    for _ in range(data.draw(st.integers(1, 3))):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 20)))
        insert = data.draw(
            st.text(alphabet=_YAML_CHARS, max_size=8)
            | st.sampled_from([":", "- ", "  ", "\n", "{", "]", "\t", "&a", "*a", "!!set", "? "])
        )
        text = text[:start] + insert + text[end:]
    try:
        parse_scenario(text)
    except ScenarioError as error:
        _check_error(error, text)


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1f", "\ufffe"])
def test_control_character_is_a_problem_not_a_reader_error(char: str) -> None:
    _problems(BASE.replace("name: t", f"name: t{char}"))


def test_file_with_a_nul_byte(tmp_path: Path) -> None:
    path = tmp_path / "nul.yaml"
    path.write_bytes(BASE.encode() + b"\x00\n")
    with pytest.raises(ScenarioError):
        load_scenario(path)


@pytest.mark.parametrize(
    ("block", "path", "words"),
    [
        ("balancer: {policy: fastest}", "services.a.balancer", "unknown policy 'fastest'"),
        (
            "replicas: 2\n    balancer: {policy: weighted_round_robin, weights: {0: -1}}",
            "services.a.balancer.weights[0]",
            "more than 0",
        ),
        (
            "kind: gateway\n    gateway: {rate_limits: [{rate: 5/s, burst: 0.5}]}",
            "services.a.gateway.rate_limits[0].burst",
            "at least 1",
        ),
        ("balancer: {policy: p2c, choise: 3}", "services.a.balancer.choise", "unknown key"),
        ("gateway: {auth: {dist: exponential, mean: 1ms}}", "services.a", "needs kind: gateway"),
    ],
    ids=["unknown-policy", "negative-weight", "burst-below-one", "policy-typo", "gateway-on-a-service"],
)
def test_bad_policy_configuration_is_a_scenario_error(block: str, path: str, words: str) -> None:
    text = BASE.replace(
        "service_time: {dist: exponential, mean: 10ms}",
        f"service_time: {{dist: exponential, mean: 10ms}}\n    {block}",
        1,
    )
    problem = _only(text)
    assert problem.path == path
    assert words in problem.message
    assert problem.line is not None
