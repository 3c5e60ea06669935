"""Child processes of a stack: started in their own process group, found again by pid, stopped for good.

Every stack process runs in a new session (so its own process group): a signal to the group reaches
it and anything it started, and Ctrl-C in the terminal that ran ``live up`` does not reach it. A
process is identified by its pid *and* its start time, so a pid the system reused for something else
after a crash is never signalled by ``live down``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

__all__ = ["ProcessHandle", "spawn", "spawn_command", "stop_all", "terminate"]


@dataclass(frozen=True)
class ProcessHandle:
    """A stack process as the state file records it."""

    pid: int
    started: float  # psutil's create_time: with the pid, the process's identity

    def alive(self) -> bool:
        """Whether this very process still runs (a zombie counts as gone)."""
        try:
            process = psutil.Process(self.pid)
            return process.create_time() == self.started and process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the process's group (no-op if it is gone)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signum)


_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}  # reaped when stopped by this same process


def spawn(
    module: str, environ: Mapping[str, str], log: Path, pass_fds: tuple[int, ...] = ()
) -> ProcessHandle:
    """Start ``python -m module`` with extra environment, stdout and stderr appended to ``log``.

    ``pass_fds`` are file descriptors the child inherits (its listening socket).
    """
    return spawn_command([sys.executable, "-m", module], environ, log, pass_fds)


def spawn_command(
    command: Sequence[str], environ: Mapping[str, str], log: Path, pass_fds: tuple[int, ...] = ()
) -> ProcessHandle:
    """Start any program (``command``: its argv) the way :func:`spawn` starts a service (a Prometheus)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        child = subprocess.Popen(
            list(command),
            env={**os.environ, **environ},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=pass_fds,
        )
    _CHILDREN[child.pid] = child
    return ProcessHandle(child.pid, psutil.Process(child.pid).create_time())


def _reap(handles: list[ProcessHandle]) -> None:
    for handle in handles:
        child = _CHILDREN.get(handle.pid)
        if child is not None and child.poll() is not None:
            del _CHILDREN[handle.pid]


def _wait(handles: list[ProcessHandle], timeout: float) -> list[ProcessHandle]:
    deadline = time.monotonic() + timeout
    running = handles
    while running and time.monotonic() < deadline:
        _reap(running)
        running = [handle for handle in running if handle.alive()]
        if running:
            time.sleep(0.05)
    return running


def stop_all(handles: list[ProcessHandle], grace: float) -> list[ProcessHandle]:
    """SIGTERM every process group, wait up to ``grace`` seconds, SIGKILL what is left.

    Returns the processes that had to be killed (they did not drain in time).
    """
    for handle in handles:
        handle.signal(signal.SIGTERM)
    stubborn = _wait(handles, grace)
    for handle in stubborn:
        handle.signal(signal.SIGKILL)
    _wait(stubborn, 5.0)
    return stubborn


def terminate(process: subprocess.Popen[Any], grace: float = 10.0) -> int:
    """Stop a child this process started: SIGTERM, up to ``grace`` seconds, then SIGKILL; its exit code."""
    process.terminate()
    try:
        return process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=5)
