"""The chaos report: fault windows read from the journal, and the pages written from it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from chaos.report import fault_windows, write_report
from chaos.run import Verdict, judge

START = datetime(2026, 1, 1, tzinfo=UTC)


def _at(seconds: float) -> str:
    return (START + timedelta(seconds=seconds)).isoformat()


def _run(name: str, func: str, start: float, end: float, status: str = "succeeded") -> dict:
    activity = {"type": "action", "name": name, "provider": {"type": "python", "module": "m", "func": func}}
    return {
        "activity": activity,
        "start": _at(start),
        "end": _at(end),
        "duration": end - start,
        "status": status,
    }


def _journal(**changes: object) -> dict:
    probe = {"type": "probe", "name": "error-rate", "tolerance": {"type": "range", "range": [0, 0.1]}}
    journal = {
        "experiment": {
            "title": "A <title> & more",
            "description": "what it does",
            "steady-state-hypothesis": {"title": "fine", "probes": [probe]},
        },
        "start": _at(0),
        "end": _at(10),
        "duration": 10.0,
        "status": "completed",
        "deviated": False,
        "steady_states": {
            "before": {"probes": [{"activity": probe, "output": 0.0, "tolerance_met": True}]},
            "after": {"probes": [{"activity": probe, "output": 0.05, "tolerance_met": True}]},
        },
        "run": [
            _run("lag", "add_toxic", 1.0, 1.2),
            _run("resets", "create_latency_toxic", 1.2, 1.5),
            _run("load", "run_load", 1.5, 5.0),
            _run("crash", "kill_instance", 7.0, 7.1),
        ],
        "rollbacks": [_run("heal", "remove_toxics", 6.0, 6.1)],
    }
    journal.update(changes)
    return journal


def test_fault_windows_run_from_the_fault_to_its_undoing_or_the_end_and_merge_overlaps() -> None:
    windows = fault_windows(_journal())
    assert [(round(a, 3), round(b, 3), label) for a, b, label in windows] == [
        (1.2, 6.0, "lag, resets"),
        (7.1, 10.0, "crash"),
    ]


def test_the_verdict_names_the_violated_probe_or_the_failed_activity() -> None:
    assert judge(_journal()).passed
    unmet = _journal(deviated=True)
    unmet["steady_states"]["after"]["probes"][0].update(output=0.5, tolerance_met=False)
    verdict = judge(unmet)
    assert not verdict.passed
    assert "violated after the method: error-rate: got 0.5" in verdict.message
    broken = _journal()
    broken["run"][2].update(status="failed", exception=["Traceback ...\n", "SetupError: sign-up failed\n"])
    assert judge(broken) == Verdict(
        False, "activity 'load' failed: Traceback ...\nSetupError: sign-up failed"
    )


def test_the_report_is_written_with_plots_and_escaped_text(tmp_path: Path) -> None:
    origin = START.timestamp()
    timeline = pd.DataFrame(
        {
            "time": [origin + 0.5, origin + 2.0, origin + 3.0, origin + 8.0],
            "latency": [0.01, 0.5, 2.0, 0.02],
            "outcome": ["ok", "ok", "timeout", "ok"],
            "status": [200, 201, 504, 200],
            "activity": ["probe", "load", "load", "probe"],
        }
    )
    journal = _journal()
    journal["run"][2]["output"] = {
        "requests": 97.0,
        "error_rate": 0.0,
        "latency_mean": 0.0069271,
        "x": "y" * 90,
    }
    written = write_report(journal, timeline, Verdict(True, "held"), tmp_path)
    assert {path.name for path in written} == {"latency.png", "errors.png", "report.md", "report.html"}
    markdown = (tmp_path / "report.md").read_text()
    assert "| error-rate | " in markdown
    assert "| load | 2 | 50.0% |" in markdown
    # a mapping output reads as k=v pairs, cut short (the journal keeps it whole)
    assert "requests=97, error_rate=0, latency_mean=0.006927, x=yyy" in markdown
    assert "y" * 60 not in markdown
    page = (tmp_path / "report.html").read_text()
    assert "A &lt;title&gt; &amp; more" in page
    assert page.count("data:image/png;base64,") == 2
