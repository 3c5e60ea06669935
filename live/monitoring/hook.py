"""Prometheus joins the stack's life as a :class:`~live.supervisor.StackHook`.

``ready`` (after ``up``, ``scale`` and every autoscaler step) rewrites the file_sd targets from the
state, and starts Prometheus if the state records none running; the record goes into
``state.json`` under ``options["prometheus"]``, so a later command in another process (``live scale``,
``live autoscale``, ``live down``) finds it again through :func:`monitoring_hooks`. ``stopping``
(before ``down``) stops it.
"""

from __future__ import annotations

from dataclasses import asdict

from live.mesh.files import PROMETHEUS, mesh_files
from live.monitoring.files import Intervals, PrometheusFiles
from live.monitoring.server import PrometheusRecord, start_prometheus, stop_prometheus
from live.supervisor.stack import Stack, StackError, StackHook, StackState

__all__ = ["OPTION", "PrometheusHook", "monitoring_hooks", "prometheus_of"]

OPTION = "prometheus"
"""The key of the Prometheus record in ``StackState.options``."""


def prometheus_of(state: StackState) -> PrometheusRecord | None:
    """The Prometheus the state records, if any (running or not)."""
    found = state.options.get(OPTION)
    return PrometheusRecord(**found) if found else None


class PrometheusHook:
    """Runs a Prometheus that scrapes every instance of the stack (``live up --prometheus``)."""

    def __init__(self, intervals: Intervals | None = None, timeout: float = 30.0) -> None:
        self.intervals = intervals or Intervals()
        self.timeout = timeout

    def ready(self, stack: Stack) -> None:
        files = PrometheusFiles.of(stack.state_dir)
        files.write_targets(stack.state)
        record = prometheus_of(stack.state)
        if record is not None and record.handle.alive():
            return
        intervals = record.intervals if record is not None else self.intervals
        mtls = stack.state.options.get("mtls")
        mesh = mesh_files(stack.state_dir, PROMETHEUS) if mtls else None
        try:
            record = start_prometheus(files, intervals, self.timeout, mesh)
        except StackError as error:
            raise StackError(f"{error}\n(the stack itself runs: `servicelab live down` stops it)") from None
        stack.state.options[OPTION] = asdict(record)
        stack.state.save()

    def stopping(self, stack: Stack) -> None:
        record = prometheus_of(stack.state)
        if record is not None:
            stop_prometheus(record, stack.grace)
            stack.state.options.pop(OPTION, None)


def monitoring_hooks(state: StackState) -> list[StackHook]:
    """The hooks a command working on an existing stack needs: Prometheus's, if the stack has one."""
    return [PrometheusHook()] if prometheus_of(state) is not None else []
