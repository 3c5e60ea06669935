"""``report.html``: self-contained, escaped, the same tables as ``report.md``, and shown by a real browser.

One small comparison (an M/M/1 base with a theory column, and a variant with constant arrivals for which
no closed form applies) is run once and written once; each test reads the folder.
"""

from __future__ import annotations

import base64
import re
import subprocess
from html.parser import HTMLParser
from importlib import metadata
from pathlib import Path

import pytest

from simulator import scenario_from_dict
from simulator.comparison import run_comparison
from simulator.report import write_report
from tests.conftest import require

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
VOID = {"meta", "img", "br", "hr", "link", "input", "col", "source", "wbr", "area", "base"}
NAME = "tiny <b>& co</b>"
DESCRIPTION = "An M/M/1 queue: rho < 1 & the queue stays finite. <script>alert(1)</script>"
SCENARIO = {
    "name": NAME,
    "description": DESCRIPTION,
    "duration": "20s",
    "warmup": "2s",
    "seed": 5,
    "replications": 2,
    "services": {"server": {"service_time": {"dist": "exponential", "mean": "10ms"}}},
    "routes": {"main": [{"call": "server"}]},
    "workloads": [{"route": "main", "arrivals": {"process": "poisson", "rate": "50/s"}}],
    "variants": {"paced": {"workloads": {0: {"arrivals": {"process": "constant", "rate": "50/s"}}}}},
}


class Page(HTMLParser):
    """What the tests look at: the tag structure, the text by element, the images, the tables."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tags: list[str] = []
        self.images: list[str] = []
        self.headings: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._text: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs).get("src") or "")
        if tag not in VOID:
            self.stack.append(tag)
        if tag in {"h1", "h2", "h3", "td", "th"}:
            self._text = []
        if tag == "table":
            self.tables.append([])
        if tag == "tr":
            self._row = []

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        text = "".join(self._text or [])
        if tag in {"h1", "h2", "h3"}:
            self.headings.append(text)
        if tag in {"td", "th"} and self._row is not None:
            self._row.append(text)
        if tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    comparison = run_comparison(scenario_from_dict(SCENARIO))
    write_report(comparison, out, wall_time=1.25)
    return out


@pytest.fixture(scope="module")
def page(folder: Path) -> Page:
    parsed = Page()
    parsed.feed((folder / "report.html").read_text(encoding="utf-8"))
    parsed.close()
    return parsed


def test_the_page_is_well_formed(page: Page) -> None:
    assert page.problems == []
    assert page.stack == []  # every element closed
    assert page.tags[:2] == ["html", "head"]
    assert page.tags.count("body") == 1
    assert page.tags.count("title") == 1


def test_it_is_self_contained(folder: Path, page: Page) -> None:
    text = (folder / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"https?:", text, re.IGNORECASE)
    assert "<script" not in text  # the description's script is text, escaped
    assert "<link" not in text
    pngs = sorted(path.name for path in folder.glob("*.png"))
    assert len(page.images) == len(pngs) >= 5  # the call graph and every plot
    for src in page.images:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix) :]).startswith(PNG_MAGIC)


def test_user_text_is_escaped(folder: Path, page: Page) -> None:
    text = (folder / "report.html").read_text(encoding="utf-8")
    assert page.headings[0] == NAME  # shown as written, not as markup
    assert "tiny &lt;b&gt;&amp; co&lt;/b&gt;" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<b>" not in text


def test_it_has_the_sections_of_the_markdown_report(folder: Path, page: Page) -> None:
    markdown = (folder / "report.md").read_text()
    expected = [line.lstrip("#").strip() for line in markdown.splitlines() if line.startswith("#")]
    assert page.headings == expected
    for heading in ("Variants", "Queueing theory", "Services (base)", "Plots", "Reproducibility"):
        assert heading in page.headings


def test_its_tables_are_the_markdown_tables(folder: Path, page: Page) -> None:
    """One source of rows, two renderers: the cells match one for one."""
    markdown = (folder / "report.md").read_text()
    rows = [line for line in markdown.splitlines() if line.startswith("|") and not line.startswith("|---")]
    cells = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in rows]
    assert [row for table in page.tables for row in table] == cells


def test_the_theory_column_and_the_note(page: Page) -> None:
    theory = next(table for table in page.tables if "theory (ms)" in table[0])
    base = next(row for row in theory if row[0] == "base")
    assert base[1:3] == ["server", "M/M/1"]
    assert base[4] == "20"  # W = 1 / (100/s - 50/s)
    assert base[6] == "50"  # rho = 50/s * 10 ms
    assert all(row[0] != "paced" for row in theory[1:])


def test_reproducibility_names_seeds_versions_and_wall_time(folder: Path, page: Page) -> None:
    seeds = next(table for table in page.tables if table[0][:3] == ["variant", "seed", "replications"])
    assert seeds[1:] == [["base", "5", "2", "20", "2"], ["paced", "5", "2", "20", "2"]]
    text = (folder / "report.html").read_text(encoding="utf-8")
    assert f"servicelab {metadata.version('servicelab')}" in text
    for package in ("simpy", "numpy", "pandas"):
        assert f"{package} {metadata.version(package)}" in text
    assert "Wall time of the run: 1.25 s" in text
    assert "paced: no closed form (arrivals are not a homogeneous Poisson process)." in text


def test_chromium_renders_the_page(folder: Path, tmp_path: Path) -> None:
    """A real browser loads the page headless: it exits cleanly, draws a screenshot, and its DOM has the
    headings and tables (so nothing in the page stopped it from rendering)."""
    require(binary="chromium")
    url = (folder / "report.html").as_uri()
    common = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    shot = tmp_path / "shot.png"
    screenshot = subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1280,4000", url],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert screenshot.returncode == 0, screenshot.stderr.decode(errors="replace")[-2000:]
    assert shot.stat().st_size > 10_000
    assert shot.read_bytes().startswith(PNG_MAGIC)
    dom = subprocess.run(
        [*common, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=False
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<h1>tiny &lt;b&gt;&amp; co&lt;/b&gt;</h1>" in dom.stdout
    for heading in ("Variants", "Queueing theory", "Services (base)", "Plots", "Reproducibility"):
        assert f"<h2>{heading}</h2>" in dom.stdout
    assert dom.stdout.count("<table>") == (folder / "report.html").read_text().count("<table>")
    assert dom.stdout.count('src="data:image/png;base64,') >= 5
