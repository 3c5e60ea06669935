"""A changed copy of a service's package: how the tests (and learners) try a change on a provider.

:func:`changed_copy` copies ``live/<service>/`` into a folder under a new package name, points the
copy's imports of itself at the copy, applies text edits (each must match exactly once, so an edit
that no longer applies fails loudly instead of silently testing the unchanged service), and imports
it. The original package is untouched; the copy's ``app.create_app`` is a provider that differs from
the real one by exactly the edits -- a renamed field, another status code, a route removed -- which
provider verification must then catch (or, for a compatible change, let through).
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from contracts.versions import LIVE

__all__ = ["Edit", "changed_copy"]


@dataclass(frozen=True)
class Edit:
    """Replace ``old`` (which must occur exactly once) by ``new`` in the copy's file ``file``."""

    file: str
    old: str
    new: str


def changed_copy(service: str, edits: Sequence[Edit], folder: Path) -> ModuleType:
    """``live.<service>`` copied into ``folder`` with ``edits`` applied, imported as a new package."""
    name = f"{service}_copy_{uuid.uuid4().hex[:8]}"
    target = folder / name
    shutil.copytree(LIVE / service, target, ignore=shutil.ignore_patterns("__pycache__"))
    for path in target.rglob("*.py"):
        path.write_text(path.read_text(encoding="utf-8").replace(f"live.{service}", name), encoding="utf-8")
    for edit in edits:
        path = target / edit.file
        text = path.read_text(encoding="utf-8")
        found = text.count(edit.old)
        if found != 1:
            raise ValueError(f"{service}/{edit.file}: {edit.old!r} occurs {found} times, not once")
        path.write_text(text.replace(edit.old, edit.new), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(
        name, target / "__init__.py", submodule_search_locations=[str(target)]
    )
    assert spec is not None
    assert spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    spec.loader.exec_module(package)
    importlib.import_module(f"{name}.app")
    return package
