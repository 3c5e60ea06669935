"""Shared test helpers.

Tests that need an optional real part (a system binary, an optional package) call :func:`require`.
On a laptop without it they skip with the reason printed; in CI, where ``SERVICELAB_REQUIRE_ALL=1``
is set, they fail instead, so a missing install step cannot hide behind a green run.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

REQUIRE_ALL = os.environ.get("SERVICELAB_REQUIRE_ALL") == "1"


def require(*, module: str | None = None, binary: str | None = None) -> None:
    """Skip (or, under SERVICELAB_REQUIRE_ALL=1, fail) unless ``module`` imports and ``binary`` is on PATH."""
    missing = []
    if module is not None and importlib.util.find_spec(module) is None:
        missing.append(f"Python package {module!r}")
    if binary is not None and shutil.which(binary) is None:
        missing.append(f"program {binary!r}")
    if missing:
        reason = f"needs {' and '.join(missing)}"
        if REQUIRE_ALL:
            pytest.fail(f"{reason}, and SERVICELAB_REQUIRE_ALL=1 forbids skipping", pytrace=False)
        pytest.skip(reason)
