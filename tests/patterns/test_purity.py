"""The patterns stay free of I/O: no simpy, no asyncio, no sockets, and no reading the clock themselves.

Two checks, both discovering modules at run time so that every new file under ``patterns/`` is covered:

* at run time: a fresh interpreter (a subprocess, so this test's own imports cannot interfere) installs
  an import hook that refuses the I/O and framework modules, imports ``patterns`` and every submodule,
  and pokes each public class that can be built from a clock alone. It also checks that nothing outside
  the standard library (plus numpy, allowed for random numbers) was imported.
* in the source: the syntax tree of each file must not read the time (``time.time()``,
  ``time.monotonic()``, ``datetime.now()``, ...) nor import a forbidden module, even inside a function
  that the import check never runs. Docstrings and comments may mention them: ``clock.py`` explains that
  the live services pass ``time.monotonic``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import patterns

PATTERNS_DIR = Path(patterns.__file__).parent
ROOT = PATTERNS_DIR.parent

# Modules a pattern must not use: the simulator's and the live services' machinery, and raw I/O.
# Only modules nothing harmless in the standard library imports on the side: blocking ``time`` or
# ``threading`` here would break innocent imports (logging, random, ...); the source check covers time.
BLOCKED = (
    "simpy",
    "asyncio",
    "socket",
    "selectors",
    "ssl",
    "http",
    "urllib.request",
    "aiohttp",
    "httpx",
    "requests",
    "fastapi",
    "starlette",
    "uvicorn",
    "simulator",
    "live",
    "chaos",
    "contracts",
    "labs",
)
ALLOWED_THIRD_PARTY = ("numpy",)

# Run in a fresh interpreter: argv = [root, package, blocked (comma-separated), allowed (comma-separated)].
PROBE = textwrap.dedent(
    r"""
    import importlib, importlib.abc, inspect, json, pkgutil, sys

    root, package, blocked, allowed = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4].split(",")
    sys.path.insert(0, root)

    def is_blocked(name):
        return any(name == b or name.startswith(b + ".") for b in blocked)

    class Blocked(ImportError):
        pass

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if is_blocked(name):
                raise Blocked(f"patterns must not import {name!r}")
            return None

    sys.meta_path.insert(0, Refuse())
    for name in list(sys.modules):
        if is_blocked(name):
            sys.modules[name] = None  # `import name` now fails instead of reusing it
    before = set(sys.modules)

    report = {"modules": [], "failures": [], "smoked": [], "third_party": []}

    def fail(where, error):
        report["failures"].append(f"{where}: {type(error).__name__}: {error}")

    def broken(name):
        report["failures"].append(f"{name}: subpackage failed to import")

    try:
        top = importlib.import_module(package)
    except BaseException as error:
        fail(package, error)
        print(json.dumps(report))
        raise SystemExit(1)

    found = pkgutil.walk_packages(top.__path__, package + ".", onerror=broken)
    names = [package] + sorted(m.name for m in found)
    clock_module = importlib.import_module(package + ".clock") if package == "patterns" else None

    def smoke(cls):
        # Build with only a clock (or nothing), then call each public no-argument method once. Errors
        # other than a refused import are the class's business, not this test's.
        try:
            signature = inspect.signature(cls)
        except (TypeError, ValueError):
            return
        kwargs = {}
        for p in signature.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.default is not p.empty:
                continue
            if p.name == "clock" and clock_module is not None:
                kwargs["clock"] = clock_module.ManualClock()
            else:
                return
        try:
            obj = cls(**kwargs)
        except Blocked:
            raise
        except Exception:
            return
        report["smoked"].append(f"{cls.__module__}.{cls.__qualname__}")
        for attr in dir(obj):
            if attr.startswith("_"):
                continue
            try:
                method = getattr(obj, attr)
                if not callable(method) or inspect.isclass(method):
                    continue
                params = inspect.signature(method).parameters.values()
                variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
                if any(p.default is p.empty and p.kind not in variadic for p in params):
                    continue
                method()
            except Blocked:
                raise
            except Exception:
                pass

    import enum
    for name in names:
        try:
            module = importlib.import_module(name)
        except BaseException as error:
            fail(name, error)
            continue
        report["modules"].append(name)
        public = getattr(module, "__all__", [n for n in vars(module) if not n.startswith("_")])
        for attr in public:
            cls = getattr(module, attr, None)
            if not inspect.isclass(cls) or cls.__module__ != name:
                continue
            if issubclass(cls, (BaseException, enum.Enum)):
                continue
            try:
                smoke(cls)
            except Blocked as error:
                fail(f"{name}.{attr}", error)

    stdlib = set(sys.stdlib_module_names) | {"__main__", package}
    third = sorted({m.split(".")[0] for m in set(sys.modules) - before} - stdlib - set(allowed))
    third = [m for m in third if not m.startswith("_")]  # private C helpers of the stdlib
    report["third_party"] = third
    print(json.dumps(report))
    raise SystemExit(1 if report["failures"] or third else 0)
    """
)


def run_probe(root: Path, package: str) -> tuple[int, dict, str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(root), package, ",".join(BLOCKED), ",".join(ALLOWED_THIRD_PARTY)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=root,
    )
    lines = done.stdout.strip().splitlines()
    report = json.loads(lines[-1]) if lines else {}
    return done.returncode, report, done.stderr


def test_patterns_import_and_run_without_io_modules():
    returncode, report, stderr = run_probe(ROOT, "patterns")
    problems = "\n".join(report.get("failures", [])) or stderr
    assert returncode == 0, f"patterns reached for forbidden modules or failed to import:\n{problems}"
    assert report["third_party"] == [], f"patterns import outside stdlib + numpy: {report['third_party']}"
    on_disk = {
        "patterns." + ".".join(p.relative_to(PATTERNS_DIR).with_suffix("").parts)
        for p in PATTERNS_DIR.rglob("*.py")
        if p.name != "__init__.py"
    }
    assert on_disk <= set(report["modules"]), (
        f"modules not checked: {sorted(on_disk - set(report['modules']))}"
    )
    assert "patterns.registry.Registry" in report["smoked"]


@pytest.mark.parametrize(
    ("source", "offender"),
    [
        ("import socket\n", "impure.bad: Blocked: patterns must not import 'socket'"),
        (  # a lazy import that only calling a method of a public class reaches
            "def later():\n    import asyncio\n\nclass Waiter:\n    def wait(self):\n        later()\n",
            "impure.bad.Waiter: Blocked: patterns must not import 'asyncio'",
        ),
        ("from urllib.request import urlopen\n", "'urllib.request'"),
        ("import yaml\n", "yaml"),  # not I/O, but outside stdlib + numpy
    ],
)
def test_the_probe_catches_a_module_that_reaches_for_io(tmp_path, source, offender):
    """The check itself can fail: a throwaway package that imports a forbidden module is refused."""
    package = tmp_path / "impure"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "ok.py").write_text("import math\n")
    (package / "bad.py").write_text(source)
    returncode, report, _ = run_probe(tmp_path, "impure")
    assert returncode != 0, report
    assert offender in json.dumps(report), report
    assert "impure.ok" in report["modules"]


# -- the source check ---------------------------------------------------------------------------------

# A dotted name ending in any of these reads the wall or monotonic clock (or sleeps on it).
CLOCK_READS = (
    "time.time",
    "time.time_ns",
    "time.monotonic",
    "time.monotonic_ns",
    "time.perf_counter",
    "time.perf_counter_ns",
    "time.process_time",
    "time.sleep",
    "datetime.now",
    "datetime.utcnow",
    "datetime.today",
    "date.today",
)
FORBIDDEN_IMPORTS = ("time", *BLOCKED)


def dotted(node: ast.expr) -> str:
    """``a.b.c`` for an attribute chain; a base that is not a plain name shows as ``<expr>``."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    parts.append(node.id if isinstance(node, ast.Name) else "<expr>")
    return ".".join(reversed(parts))


def violations(source: str, filename: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Attribute):
            name = dotted(node)
            if any(name == read or name.endswith("." + read) for read in CLOCK_READS):
                found.append(f"{filename}:{node.lineno} uses the real clock: {name}")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                if any(module == f or module.startswith(f + ".") for f in FORBIDDEN_IMPORTS):
                    found.append(f"{filename}:{node.lineno} imports {module}")
    return found


SOURCES = sorted(PATTERNS_DIR.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_pattern_source_never_reads_the_clock_itself(path):
    assert violations(path.read_text(encoding="utf-8"), path.name) == []


@pytest.mark.parametrize(
    "source",
    [
        "import time\nnow = time.monotonic()\n",
        "from time import monotonic\n",
        "import datetime\nstamp = datetime.datetime.now()\n",
        "def f(clock=None):\n    return clock or __import__('x').time.time()\n",
        "def f():\n    import simpy\n",
    ],
)
def test_the_source_check_flags_clock_reads(source):
    assert violations(source, "bad.py") != []


def test_the_source_check_lets_docstrings_and_injected_clocks_through():
    source = '"""Live services pass ``time.monotonic``; datetime.now() is not used."""\n'
    source += "def f(clock):\n    return clock()  # never time.time()\n"
    assert violations(source, "good.py") == []
