"""Tests for ``servicelab sim``: the real entry point, on real files.

The promise under test: a user's mistake (a bad scenario, a bad flag, a missing file) prints a
message on stderr and exits with code 1, never a traceback; a good run prints its tables and writes
the documented report folder. Most tests call the entry point (``run_app``, argv parsing, exit
codes) in this interpreter, where an escaping exception fails the test outright; a few start the
installed console script and ``python -m simulator`` as separate programs. Those that simulate for
long are marked ``slow``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import textwrap
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest

from servicelab_cli import run_app
from simulator.cli import app as sim_app
from simulator.errors import ScenarioError
from simulator.loader import load_scenario
from tests.simulator.bundled import SCENARIOS

SHOP = SCENARIOS / "shop.yaml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TIMEOUT = 300

TINY = textwrap.dedent(
    """\
    name: tiny
    description: M/M/1 at rho = 0.5, short.
    duration: 20s
    warmup: 2s
    seed: 7
    replications: 5
    services:
      server:
        service_time: {dist: exponential, mean: 10ms}
    routes:
      main:
        - call: server
    workloads:
      - route: main
        arrivals: {process: poisson, rate: 50/s}
    variants:
      slow:
        services: {server: {service_time: {mean: 15ms}}}
    """
)

BAD = textwrap.dedent(
    """\
    name: bad
    duration: 10 parsecs
    services:
      a:
        replica: 3
        service_time: {dist: exponential, mean: 10ms}
    routes:
      main:
        - call: a
          calls:
            - call: ghost
    workloads:
      - route: main
        arrivals: {process: poisson, rate: -5/s}
    """
)


@dataclass
class Finished:
    """What a run of the command left behind: its exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str


def _cli(*args: str | Path, cwd: Path) -> Finished:
    """``servicelab sim ARGS`` in ``cwd``, run in this interpreter through the real entry point."""
    out, err = io.StringIO(), io.StringIO()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with (
            redirect_stdout(out),
            redirect_stderr(err),
            patch.object(sys, "argv", ["servicelab", *map(str, args)]),
        ):
            try:
                run_app(sim_app)
                code = 0
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    finally:
        os.chdir(previous)
    return Finished(code, out.getvalue(), err.getvalue())


def _assert_user_error(result: Finished | subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout
    assert result.stderr.strip()


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY, encoding="utf-8")
    return path


# --- validate ----------------------------------------------------------------------------------


def test_validate_good_scenario(tmp_path: Path) -> None:
    result = _cli("validate", SHOP, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout
    assert "6 services, 3 routes, 3 workloads and 2 variant(s)" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "program",
    [[str(Path(sys.executable).parent / "servicelab"), "sim"], [sys.executable, "-m", "simulator"]],
    ids=["console-script", "python-m"],
)
def test_installed_programs_behave_the_same(tmp_path: Path, tiny: Path, program: list[str]) -> None:
    ok = subprocess.run([*program, "validate", "tiny.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "tiny.yaml: valid" in ok.stdout
    usage = subprocess.run(
        [*program, "run", "tiny.yaml", "--replications", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    _assert_user_error(usage)


@pytest.mark.parametrize("command", ["validate", "run", "diagram"])
def test_bad_scenario_prints_one_line_per_problem(tmp_path: Path, command: str) -> None:
    (tmp_path / "bad.yaml").write_text(BAD, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(tmp_path / "bad.yaml")
    expected = [problem.render("bad.yaml") for problem in caught.value.problems]
    assert len(expected) == 3  # duration, the unknown key, the negative rate

    result = _cli(command, "bad.yaml", cwd=tmp_path)
    _assert_user_error(result)
    lines = result.stderr.splitlines()
    assert "bad.yaml: 3 problems in the scenario" in lines
    for line in expected:
        assert line in lines
    assert "• duration (bad.yaml:2): " in result.stderr
    assert "• services.a.replica (bad.yaml:5): " in result.stderr
    assert "• workloads[0].arrivals.rate (bad.yaml:14): " in result.stderr
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "diagram.png").exists()


def test_reference_problems_are_reported_with_their_line(tmp_path: Path) -> None:
    text = BAD.replace("duration: 10 parsecs", "duration: 10s").replace("    replica: 3\n", "")
    text = text.replace("rate: -5/s", "rate: 5/s")
    (tmp_path / "refs.yaml").write_text(text, encoding="utf-8")
    result = _cli("validate", "refs.yaml", cwd=tmp_path)
    _assert_user_error(result)
    assert "• routes.main[0].calls[0].call (refs.yaml:10): unknown service 'ghost'; known: a" in (
        result.stderr.splitlines()
    )


@pytest.mark.parametrize("case", ["missing", "not-utf8"])
def test_unreadable_file(tmp_path: Path, case: str) -> None:
    if case == "not-utf8":
        (tmp_path / "s.yaml").write_bytes(TINY.replace("tiny", "caf\xe9").encode("latin-1"))
    result = _cli("validate", "s.yaml", cwd=tmp_path)
    _assert_user_error(result)
    assert "s.yaml" in result.stderr
    assert "cannot read the file" in result.stderr


def test_control_character_in_the_file_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_bytes(TINY.encode() + b"\x00\n")
    _assert_user_error(_cli("validate", "s.yaml", cwd=tmp_path))


# --- usage errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["run", "tiny.yaml", "--replications", "0"], "--replications"),
        (["run", "tiny.yaml", "--bogus"], "--bogus"),
        (["validate"], "Missing argument"),
    ],
    ids=["replications-0", "unknown-option", "missing-argument"],
)
def test_usage_error_exits_1_without_traceback(
    tmp_path: Path, tiny: Path, args: list[str], words: str
) -> None:
    result = _cli(*args, cwd=tmp_path)
    _assert_user_error(result)
    assert words in result.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_variant_names_the_known_ones(tmp_path: Path, tiny: Path) -> None:
    result = _cli("run", "tiny.yaml", "--variant", "fast", "--no-progress", cwd=tmp_path)
    _assert_user_error(result)
    assert "no variant 'fast'; known: base, slow" in result.stderr
    assert not (tmp_path / "out").exists()


# --- diagram -----------------------------------------------------------------------------------


def test_diagram_writes_a_png(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "d.png"
    result = _cli("diagram", SHOP, "-o", target, "--variant", "more-inventory", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert target.read_bytes().startswith(PNG_MAGIC)
    assert target.stat().st_size > 5000
    assert str(target) in result.stdout


def test_diagram_to_an_unsupported_format_is_a_user_error(tmp_path: Path, tiny: Path) -> None:
    _assert_user_error(_cli("diagram", "tiny.yaml", "-o", "d.xyz", cwd=tmp_path))


def test_diagram_into_a_file_instead_of_a_folder_is_a_user_error(tmp_path: Path, tiny: Path) -> None:
    (tmp_path / "afile").write_text("")
    _assert_user_error(_cli("diagram", "tiny.yaml", "-o", "afile/d.png", cwd=tmp_path))


# --- run ---------------------------------------------------------------------------------------

REQUEST_COLUMNS = {
    "request",
    "workload",
    "arrival",
    "latency",
    "end",
    "status",
    "client",
    "key",
    "replication",
    "variant",
}
SPAN_COLUMNS = {
    "request",
    "span",
    "parent",
    "service",
    "replica",
    "arrival",
    "start",
    "end",
    "wait",
    "sojourn",
    "status",
}
PNGS = ["diagram.png", "latency_cdf.png", "latency_over_time.png", "throughput.png", "utilization.png"]


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_run_prints_the_tables_and_writes_the_report(tmp_path: Path, tiny: Path) -> None:
    result = _cli(
        "run", "tiny.yaml", "--out", "out", "--replications", "2", "--no-progress", "--spans", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    out = tmp_path / "out"

    # The tables on stdout.
    assert "tiny — 2 replications, seed 7" in result.stdout
    for label in ("throughput (req/s)", "error rate (%)", "latency p50 (ms)", "latency p99 (ms)"):
        assert label in result.stdout
    assert "server" in result.stdout
    assert f"report: {Path('out') / 'report.md'}" in result.stdout

    # summary.json: the base and its one variant, side by side.
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "tiny"
    assert summary["seed"] == 7
    assert summary["replications"] == 2
    assert summary["duration_s"] == 20.0
    assert summary["warmup_s"] == 2.0
    assert list(summary["variants"]) == ["base", "slow"]
    base = summary["variants"]["base"]
    for metric in ("throughput", "latency_p99", "latency_mean", "error_rate"):
        cell = base["metrics"][metric]
        assert set(cell) == {"mean", "low", "high"}
        assert cell["low"] <= cell["mean"] <= cell["high"]
    assert 40 < base["metrics"]["throughput"]["mean"] < 60  # Poisson 50/s, all served
    assert base["metrics"]["error_rate"]["mean"] == 0.0
    assert 0.01 < base["metrics"]["latency_mean"]["mean"] < 0.04  # M/M/1: 10ms / (1 - 0.5) = 20ms
    assert list(base["services"]) == ["server"]
    server = base["services"]["server"]
    assert {"utilization", "arrival_rate", "wait", "sojourn", "rejected"} <= set(server)
    assert 0.3 < server["utilization"]["mean"] < 0.7
    # Paired difference: M/M/1 at 15 ms service (rho 0.75) has W = 60 ms, 40 ms more than the base;
    # two 18-second replications pin it down only roughly, so check the sign and the size loosely.
    assert summary["differences_from"] == "base"
    slower = summary["differences"]["latency_mean"]["slow"]
    assert slower["low"] <= slower["mean"] <= slower["high"]
    assert 0.02 < slower["mean"] < 0.06

    # requests.csv: every request of both replications; those arriving in the window are the count.
    requests = _read_csv(out / "requests.csv")
    assert set(requests[0]) == REQUEST_COLUMNS
    assert {row["replication"] for row in requests} == {"0", "1"}
    assert {row["variant"] for row in requests} == {"base", "slow"}
    requests = [row for row in requests if row["variant"] == "base"]
    assert {row["workload"] for row in requests} == {"main"}
    assert {row["status"] for row in requests} == {"ok"}
    for row in requests[:200]:
        assert float(row["latency"]) == pytest.approx(float(row["end"]) - float(row["arrival"]), abs=1e-8)
    inside = [row for row in requests if 2.0 <= float(row["arrival"]) < 20.0]
    assert len(inside) == pytest.approx(2 * base["metrics"]["requests"]["mean"])
    assert len(requests) > len(inside)  # the warm-up's requests are written too

    # spans.csv: one call per request in this one-service route.
    spans = [row for row in _read_csv(out / "spans.csv") if row["variant"] == "base"]
    assert SPAN_COLUMNS | {"replication", "variant"} == set(spans[0])
    assert len(spans) == len(requests)
    assert {row["service"] for row in spans} == {"server"}

    # timeseries.csv
    series = _read_csv(out / "timeseries.csv")
    assert {"time", "scope", "throughput_per_s", "utilization", "replication"} <= set(series[0])
    assert {row["replication"] for row in series} == {"0", "1"}

    # The plots and the report.
    for name in PNGS:
        assert (out / name).read_bytes().startswith(PNG_MAGIC), name
    report = (out / "report.md").read_text()
    assert report.startswith("# tiny")
    for name in PNGS:
        assert f"]({name})" in report
    # The CLI measured the simulation's wall time for the reproducibility section.
    assert re.search(r"Wall time of the run: \d+\.\d\d s\.", report)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert page.count('src="data:image/png;base64,') == len(PNGS)
    assert f"report: {Path('out') / 'report.html'}" in result.stdout


@pytest.mark.slow
def test_seed_reproduces_and_changes_the_numbers(tmp_path: Path, tiny: Path) -> None:
    common = ["--replications", "2", "--no-progress"]
    commands = [
        ["run", "tiny.yaml", "--out", "first", "--seed", "11", *common],
        ["run", "tiny.yaml", "--out", "again", "--seed", "11", *common],
        ["run", "tiny.yaml", "--out", "other", "--seed", "12", *common],
        ["run", "tiny.yaml", "--out", "variant", "--seed", "11", "--variant", "slow", *common],
    ]
    first, again, other, variant = (_cli(*command, cwd=tmp_path) for command in commands)
    for result in (first, again, other, variant):
        assert result.returncode == 0, result.stderr

    summary = {name: (tmp_path / name / "summary.json").read_bytes() for name in ("first", "again", "other")}
    assert summary["first"] == summary["again"]
    assert (tmp_path / "first" / "requests.csv").read_bytes() == (
        tmp_path / "again" / "requests.csv"
    ).read_bytes()
    assert summary["other"] != summary["first"]
    first_doc, other_doc = (json.loads(summary[name])["variants"]["base"] for name in ("first", "other"))
    assert (json.loads(summary["first"])["seed"], json.loads(summary["other"])["seed"]) == (11, 12)
    assert first_doc["metrics"]["latency_mean"] != other_doc["metrics"]["latency_mean"]
    assert "seed 11" in first.stdout
    assert "seed 12" in other.stdout
    assert not (tmp_path / "first" / "spans.csv").exists()  # only with --spans

    only_slow = json.loads((tmp_path / "variant" / "summary.json").read_text())
    assert list(only_slow["variants"]) == ["slow"]
    slow = only_slow["variants"]["slow"]
    assert slow["scenario"] == "tiny[slow]"
    # M/M/1 mean sojourn: 20ms at 10ms service, 60ms at 15ms with the same arrivals.
    assert slow["metrics"]["latency_mean"]["mean"] > 2 * first_doc["metrics"]["latency_mean"]["mean"]


# --- resilience and backoff -----------------------------------------------------------------------

GUARDED = textwrap.dedent(
    """\
    name: guarded
    duration: 20s
    seed: 3
    services:
      api: {concurrency: 4, service_time: {dist: exponential, mean: 40ms}}
    routes: {main: [{call: api}]}
    workloads: [{route: main, arrivals: {process: poisson, rate: 80/s}}]
    resilience:
      defaults:
        timeout: 60ms
        retry: {max_attempts: 3, backoff: full_jitter, base: 5ms}
        breaker: {minimum_calls: 20, window_size: 20, wait_in_open: 1s}
    variants:
      no-retries:
        resilience: {defaults: {retry: null}}
    """
)


def test_run_reports_the_guarded_edges_tries_and_breakers(tmp_path: Path) -> None:
    (tmp_path / "guarded.yaml").write_text(GUARDED, encoding="utf-8")
    result = _cli("run", "guarded.yaml", "--out", "out", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "tries/call by call edge" in result.stdout
    assert "client->api" in result.stdout
    assert "timed out (%)" in result.stdout  # the outcome shares that occur are shown
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    edge = summary["variants"]["base"]["edges"]["client->api"]
    assert edge["retries"]["mean"] > 0
    assert edge["tries"]["mean"] <= 3  # at most max_attempts per call
    assert edge["breaker_open"]["mean"] > 0  # 60 ms timeouts at 80% load: the breaker trips
    assert summary["variants"]["no-retries"]["edges"]["client->api"]["retries"]["mean"] == 0
    with (out / "tries.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {row["kind"] for row in rows} == {"first", "retry"}
    assert {row["variant"] for row in rows} == {"base", "no-retries"}
    with (out / "breakers.csv").open() as handle:
        changes = list(csv.DictReader(handle))
    assert changes[0]["from_state"] == "closed"
    assert changes[0]["to_state"] == "open"
    for name in ("tries.png", "breakers.png"):
        assert (out / name).read_bytes().startswith(PNG_MAGIC)
    report = (out / "report.md").read_text()
    assert "## Call edges with resilience policies (base)" in report
    assert "![Circuit breakers open](breakers.png)" in report


def test_backoff_reproduces_the_jitter_ordering_and_writes_its_files(tmp_path: Path) -> None:
    result = _cli(
        "backoff",
        "-c",
        "50",
        "--replications",
        "5",
        "--seed",
        "3",
        "--out",
        "bo",
        "--no-progress",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    with (tmp_path / "bo" / "backoff.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 * 5
    calls: dict[str, float] = {}
    for row in rows:
        calls[row["kind"]] = calls.get(row["kind"], 0.0) + int(row["calls"]) / 5
    assert calls["exponential"] > 1.5 * calls["full_jitter"]  # no jitter is worst by far
    for name in ("backoff_calls.png", "backoff_completion_time.png"):
        assert (tmp_path / "bo" / name).read_bytes().startswith(PNG_MAGIC)
    assert "full_jitter" in result.stdout


def test_backoff_with_an_unknown_kind_is_a_user_error(tmp_path: Path) -> None:
    result = _cli("backoff", "--kind", "fibonacci", cwd=tmp_path)
    _assert_user_error(result)
    assert "unknown backoff kind 'fibonacci'" in result.stderr
    assert not (tmp_path / "out").exists()


# --- compare -----------------------------------------------------------------------------------

LOADED = textwrap.dedent(
    """\
    name: loaded
    description: M/M/1 at rho = 0.9; 'same' restates the base, 'doubled' has two replicas (rho 0.45).
    duration: 30s
    warmup: 3s
    seed: 11
    replications: 5
    services:
      server:
        replicas: 1
        service_time: {dist: exponential, mean: 10ms}
    routes:
      main:
        - call: server
    workloads:
      - route: main
        arrivals: {process: poisson, rate: 90/s}
    variants:
      same:
        services: {server: {replicas: 1}}
      doubled:
        services: {server: {replicas: 2}}
    """
)
COMPARE_COLUMNS = ["variant", "metric", "baseline", "difference", "low", "high", "relative", "significant"]


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Finished, dict[tuple[str, str], dict]]:
    """``sim compare`` of the loaded M/M/1 with a variant that changes nothing and one that doubles
    the replicas; its output, and compare.csv keyed by (variant, metric)."""
    folder = tmp_path_factory.mktemp("compare")
    (folder / "loaded.yaml").write_text(LOADED, encoding="utf-8")
    result = _cli("compare", "loaded.yaml", "--out", "out", "--no-progress", cwd=folder)
    assert result.returncode == 0, result.stderr
    with (folder / "out" / "compare.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == COMPARE_COLUMNS
        rows = {(row["variant"], row["metric"]): row for row in reader}
    return result, rows


@pytest.mark.slow
def test_compare_of_a_variant_that_changes_nothing_finds_no_difference(compared: Any) -> None:
    """Same random numbers, same system: every paired difference is exactly 0, nothing significant."""
    _, rows = compared
    same = [row for (variant, _), row in rows.items() if variant == "same"]
    assert {row["metric"] for row in same} == {"latency_mean", "latency_p99", "error_rate", "throughput"}
    for row in same:
        assert float(row["difference"]) == 0.0, row
        assert row["significant"] == "False", row


@pytest.mark.slow
def test_compare_finds_doubled_replicas_lower_p99(compared: Any) -> None:
    """Doubling the replicas of a server at rho 0.9 halves its load: M/M/1 p99 of the response time
    ln(100) x 10 ms / (1 - 0.9) = 461 ms; with two replicas (each M/M/1 at rho 0.45 under random
    balancing, ~84 ms) it falls by well over half, and the paired interval must exclude 0."""
    result, rows = compared
    p99 = rows[("doubled", "latency_p99")]
    assert p99["significant"] == "True"
    assert float(p99["high"]) < 0
    assert float(p99["low"]) <= float(p99["difference"]) <= float(p99["high"])
    assert float(p99["relative"]) < -0.5
    assert 0.25 < float(p99["baseline"]) < 0.8  # 461 ms in theory; 30-second runs at rho 0.9 vary
    assert rows[("doubled", "latency_mean")]["significant"] == "True"
    # The printed table marks it, with the legend saying what the mark means.
    assert "paired differences from base" in result.stdout
    assert "✓ significant: the 95% interval of the paired difference excludes 0" in result.stdout
    line = next(line for line in result.stdout.splitlines() if "latency p99" in line and "doubled" in line)
    assert "✓" in line


@pytest.mark.slow
def test_compare_with_another_baseline(tmp_path: Path, tiny: Path) -> None:
    result = _cli(
        "compare", "tiny.yaml", "--baseline", "slow", "--replications", "3", "--no-progress", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    rows = _read_csv(tmp_path / "out" / "tiny" / "compare.csv")
    assert {row["variant"] for row in rows} == {"base"}
    mean = next(row for row in rows if row["metric"] == "latency_mean")
    # M/M/1 at rho 0.5 (20 ms) against rho 0.75 (60 ms): 40 ms less, two thirds less.
    assert -0.06 < float(mean["difference"]) < -0.02
    summary = json.loads((tmp_path / "out" / "tiny" / "summary.json").read_text())
    assert summary["differences_from"] == "slow"
    assert "Paired differences from slow" in (tmp_path / "out" / "tiny" / "report.md").read_text()
    for name in PNGS:  # the folder of ``run``
        assert (tmp_path / "out" / "tiny" / name).read_bytes().startswith(PNG_MAGIC), name


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--baseline", "fast"], "no variant 'fast' to compare with; known: base, slow"),
        (["--variant", "fast"], "no variant 'fast'; known: base, slow"),
        (["--replications", "1"], "--replications"),
    ],
    ids=["baseline", "variant", "one-replication"],
)
def test_compare_user_errors(tmp_path: Path, tiny: Path, args: list[str], message: str) -> None:
    result = _cli("compare", "tiny.yaml", *args, "--no-progress", cwd=tmp_path)
    _assert_user_error(result)
    assert message in result.stderr
    assert not (tmp_path / "out").exists()


# --- sweep ---------------------------------------------------------------------------------------


def test_sweep_writes_its_tables_plot_and_smallest_configuration(tmp_path: Path, tiny: Path) -> None:
    out = tmp_path / "swept"
    result = _cli(
        "sweep",
        tiny,
        "--param",
        "workload.rate=20/s,50/s,80/s",
        "-v",
        "base",
        "--replications",
        "2",
        "--slo",
        "p99<2s,errors<0.1%,throughput>30/s",
        "--out",
        out,
        "--no-progress",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    with (out / "sweep.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(r["workload.rate"], r["variant"], r["replication"]) for r in rows] == [
        (rate, "base", str(i)) for rate in ("20/s", "50/s", "80/s") for i in (0, 1)
    ]
    assert {"seed", "throughput", "latency_p99", "server.utilization"} <= set(rows[0])
    with (out / "summary.csv").open(newline="") as file:
        summary = list(csv.DictReader(file))
    assert len(summary) == 3 * len({r["metric"] for r in summary})
    assert (out / "surface_latency_p99.png").read_bytes().startswith(PNG_MAGIC)
    # 20/s answers ~20/s (< 30/s); 50/s is the smallest rate meeting every clause (rho = 0.5).
    with (out / "slo.csv").open(newline="") as file:
        best = list(csv.DictReader(file))
    assert [(b["workload.rate"], b["variant"]) for b in best] == [("50/s", "base")]
    assert "meeting p99<2s,errors<0.1%,throughput>30/s: workload.rate=50/s (base)" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--param", "services.sever.replicas=1..2"], "no field 'sever' under services; known: server"),
        (["--param", "services.server.replicas=0..1"], "the value 0 is refused"),
        (["--param", "workload.rate=10/s", "--slo", "p99<fast"], "--slo: the SLO clause 'p99<fast'"),
        (["--param", "workload.rate=10/s", "--slo", "latency<1s"], "unknown SLO 'latency'"),
        (["--param", "workload.rate=10/s", "--executor", "threads"], "unknown executor 'threads'"),
        (
            ["--param", "workload.rate=10/s", "--scheduler", "tcp://h:87"],
            "--scheduler needs --executor dask",
        ),
        (["--param", "workload.rate=10/s", "-v", "fast"], "no variant 'fast'"),
        (["--param", "workload.rate=10/s", "--metric", "nonsense"], "no metric 'nonsense'"),
    ],
)
def test_sweep_mistakes_exit_1_with_a_message(tmp_path: Path, tiny: Path, args: list[str], says: str) -> None:
    result = _cli("sweep", tiny, *args, "--replications", "1", "--out", tmp_path / "o", cwd=tmp_path)
    _assert_user_error(result)
    assert says in result.stderr


def test_sweep_resume_runs_only_what_is_missing(tmp_path: Path, tiny: Path) -> None:
    out = tmp_path / "o"
    common = ["--param", "workload.rate=20/s,40/s", "-v", "base", "--replications", "1", "--out", out]
    first = _cli("sweep", tiny, *common, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    table = (out / "sweep.csv").read_text()
    again = _cli("sweep", tiny, *common, "--resume", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "(0 run now)" in again.stdout
    assert (out / "sweep.csv").read_text() == table
