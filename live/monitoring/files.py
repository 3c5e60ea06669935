"""The files a stack's Prometheus reads: its configuration, its alerting rules and its scrape targets.

The sources live in ``live/deploy/prometheus/``: ``prometheus.yml`` (a ``string.Template`` with the
intervals and file names as ``$``-placeholders) and ``alerts.yml`` (the rules, as a real deployment
would load them). For a stack they are rendered into ``<state>/prometheus/``:

    prometheus.yml   the template filled in (intervals of seconds: the demo scrapes every second)
    alerts.yml       the rules with every ``for`` cut to ``hold`` seconds, so an alert fires while you watch
    targets.json     file_sd: one entry per instance, ``{"targets": ["127.0.0.1:PORT"], "labels":
                     {"service": ..., "instance": ...}}``, rewritten (atomically) whenever the stack changes
    data/            the TSDB
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from live.common.settings import HOST
from live.mesh.files import MeshFiles
from live.supervisor.stack import StackState

__all__ = [
    "ALERT_RULES",
    "CONFIG_TEMPLATE",
    "Intervals",
    "PrometheusFiles",
    "demo_rules",
    "duration",
    "render_config",
    "targets",
]

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"
CONFIG_TEMPLATE = DEPLOY / "prometheus.yml"
ALERT_RULES = DEPLOY / "alerts.yml"


def duration(seconds: float) -> str:
    """A Prometheus duration (``1500ms``) for ``seconds`` (ValueError below a millisecond)."""
    millis = round(seconds * 1000)
    if millis < 1:
        raise ValueError(f"a Prometheus duration needs at least 1 ms, got {seconds!r} s")
    return f"{millis}ms"


@dataclass(frozen=True)
class Intervals:
    """How often Prometheus scrapes and evaluates, and how long a rule must hold before it fires."""

    scrape: float = 1.0
    evaluation: float = 1.0
    hold: float = 2.0

    def __post_init__(self) -> None:
        for name in ("scrape", "evaluation"):
            if not getattr(self, name) >= 0.1:
                raise ValueError(f"the {name} interval must be at least 0.1 s, got {getattr(self, name)!r}")
        if not self.hold >= 0:
            raise ValueError(f"the alert hold must be >= 0 s, got {self.hold!r}")


@dataclass(frozen=True)
class PrometheusFiles:
    """Where a stack's Prometheus keeps its files (see the module docstring)."""

    folder: Path

    @classmethod
    def of(cls, state_dir: Path) -> PrometheusFiles:
        return cls(state_dir / "prometheus")

    @property
    def config(self) -> Path:
        return self.folder / "prometheus.yml"

    @property
    def rules(self) -> Path:
        return self.folder / "alerts.yml"

    @property
    def targets(self) -> Path:
        return self.folder / "targets.json"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def write(self, intervals: Intervals, mesh: MeshFiles | None = None) -> None:
        """Render the configuration and the rules (the targets are written by :meth:`write_targets`)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.rules.write_text(demo_rules(intervals.hold), encoding="utf-8")
        self.config.write_text(render_config(intervals, self.targets, self.rules, mesh), encoding="utf-8")

    def write_targets(self, state: StackState) -> None:
        """Write the targets of every recorded instance, atomically (Prometheus never reads half)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.targets.with_suffix(".tmp")
        partial.write_text(json.dumps(targets(state), indent=2), encoding="utf-8")
        partial.replace(self.targets)


def render_config(
    intervals: Intervals, targets_file: Path, rules_file: Path, mesh: MeshFiles | None = None
) -> str:
    """``prometheus.yml`` for a stack: the template with its placeholders filled in.

    With ``mesh`` (a stack under ``--mtls``) the job presents Prometheus's own mesh certificate to
    the targets that speak HTTPS (their ``__scheme__`` label), as the mesh policy's probe callers
    must, and checks the services' certificates against the stack's CA.
    """
    template = string.Template(CONFIG_TEMPLATE.read_text(encoding="utf-8"))
    text = template.substitute(
        scrape_interval=duration(intervals.scrape),
        scrape_timeout=duration(intervals.scrape),  # Prometheus requires timeout <= interval
        evaluation_interval=duration(intervals.evaluation),
        refresh_interval=duration(max(intervals.scrape, 1.0)),
        rules_file=json.dumps(str(rules_file)),  # a JSON string is a YAML string, quoted and escaped
        targets_file=json.dumps(str(targets_file)),
    )
    if mesh is None:
        return text
    config = yaml.safe_load(text)
    for job in config["scrape_configs"]:
        job["tls_config"] = {
            "ca_file": str(mesh.ca),
            "cert_file": str(mesh.certificate),
            "key_file": str(mesh.key),
        }
    return yaml.safe_dump(config, sort_keys=False, width=110)


def demo_rules(hold: float, source: Path = ALERT_RULES) -> str:
    """The alerting rules of ``source`` with every rule's ``for`` set to ``hold`` seconds."""
    rules: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["for"] = duration(hold) if hold > 0 else "0s"
    return yaml.safe_dump(rules, sort_keys=False, width=110)


def targets(state: StackState) -> list[dict[str, Any]]:
    """file_sd entries for every instance the state records: ``127.0.0.1:PORT`` and its scheme as the
    ``__scheme__`` label (under ``--mtls`` every service speaks HTTPS but the gateway, the public edge)."""
    return [
        {
            "targets": [f"{HOST}:{record.port}"],
            "labels": {
                "service": record.service,
                "instance": record.instance,
                "__scheme__": record.url.partition("://")[0],
            },
        }
        for record in state.instances
    ]
