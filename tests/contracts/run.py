"""Running ``servicelab`` as a user does: a process of its own, its output captured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def servicelab(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``servicelab ARGS`` from the repository root (wide output: tables are not wrapped)."""
    command = [sys.executable, "-c", "from servicelab_cli import main; main()", *args]
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
