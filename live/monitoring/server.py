"""A real Prometheus server for a stack: Debian's ``prometheus`` binary on 127.0.0.1.

It listens on an ephemeral loopback port (picked by binding port 0 and releasing it just before the
start: Prometheus cannot inherit a socket), keeps its TSDB in the state folder, and runs in its own
process group like every stack process, so ``live down`` stops it the same way. ``start_prometheus``
returns once ``/-/ready`` answers 200, or raises :class:`~live.supervisor.StackError` with the end of
its log.
"""

from __future__ import annotations

import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from live.common.settings import HOST
from live.common.sockets import free_port
from live.mesh.files import MeshFiles
from live.monitoring.files import Intervals, PrometheusFiles
from live.supervisor.processes import ProcessHandle, spawn_command, stop_all
from live.supervisor.stack import StackError

__all__ = ["PrometheusRecord", "start_prometheus", "stop_prometheus"]


@dataclass(frozen=True)
class PrometheusRecord:
    """A running Prometheus as ``state.json`` records it (under ``options["prometheus"]``)."""

    pid: int
    started: float
    url: str
    log: str
    scrape: float
    evaluation: float
    hold: float

    @property
    def handle(self) -> ProcessHandle:
        return ProcessHandle(self.pid, self.started)

    @property
    def intervals(self) -> Intervals:
        return Intervals(self.scrape, self.evaluation, self.hold)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=1.0) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _log_end(log: Path, lines: int = 10) -> str:
    try:
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        tail = "(no log written)"
    return f"the end of {log}:\n{tail}"


def start_prometheus(
    files: PrometheusFiles, intervals: Intervals, timeout: float = 30.0, mesh: MeshFiles | None = None
) -> PrometheusRecord:
    """Start Prometheus on the rendered ``files`` and wait until it is ready (``mesh``: scrape a stack
    under mutual TLS with these certificate files)."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise StackError("Prometheus needs the program 'prometheus' on PATH (Debian: apt install prometheus)")
    files.write(intervals, mesh)
    port = free_port()
    url = f"http://{HOST}:{port}"
    log = files.folder / "prometheus.log"
    command = [
        binary,
        f"--config.file={files.config}",
        f"--storage.tsdb.path={files.data}",
        f"--web.listen-address={HOST}:{port}",
        "--storage.tsdb.retention.time=1d",
    ]
    handle = spawn_command(command, {}, log)
    deadline = time.monotonic() + timeout
    while not _ready(url):
        if not handle.alive() or time.monotonic() > deadline:
            stop_all([handle], 1.0)
            raise StackError(f"Prometheus did not become ready at {url}; {_log_end(log)}")
        time.sleep(0.1)
    return PrometheusRecord(
        handle.pid, handle.started, url, str(log), intervals.scrape, intervals.evaluation, intervals.hold
    )


def stop_prometheus(record: PrometheusRecord, grace: float = 5.0) -> None:
    """SIGTERM (Prometheus flushes its head block), then SIGKILL after ``grace`` seconds."""
    stop_all([record.handle], grace)
