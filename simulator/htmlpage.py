"""``report.html``: the report's blocks as one self-contained page.

Self-contained means the file alone shows everything, offline: every plot is embedded as a base64
``data:image/png`` URI, the style sheet is inline, there is no script and no link to anything outside.
Every piece of text -- the scenario's name, description, settings, table cells -- is HTML-escaped, so a
description with ``<`` or ``&`` shows as written. The blocks are those of ``report.md``
(:func:`simulator.report.report_blocks`); only the rendering differs.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

from simulator.document import Block, Figure, Heading, Paragraph, Table
from simulator.scenario import Scenario

__all__ = ["STYLE", "render_html"]

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #ccc; padding-bottom: .3rem; }
h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem; }
th, td { border: 1px solid #ccc; padding: .25rem .55rem; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f1f3f5; }
tbody tr:nth-child(even) { background: #fafafa; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-weight: 600; margin-bottom: .3rem; }
pre { background: #f6f8fa; padding: .8rem; overflow-x: auto; font-size: .85rem; }
code { background: #f6f8fa; padding: 0 .2rem; }
"""
"""The page's whole style sheet, inlined in a ``<style>`` element."""


def _text(text: str) -> str:
    """Escaped text with ```code``` spans shown as code; line breaks flow, as in Markdown."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in table.header)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in table.rows
    )
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _figure(figure: Figure, folder: Path) -> str:
    data = base64.b64encode((folder / figure.file).read_bytes()).decode("ascii")
    title = html.escape(figure.title)
    return (
        f'<figure><figcaption>{title}</figcaption>\n<img alt="{title}" src="data:image/png;base64,{data}">'
        "</figure>"
    )


def _settings(scenario: Scenario) -> str:
    """The scenario's settings as written (fields left at their defaults omitted), folded away."""
    settings = scenario.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    text = html.escape(json.dumps(settings, indent=2, ensure_ascii=False))
    return f"<details><summary>Scenario settings</summary>\n<pre>{text}</pre>\n</details>"


def render_html(blocks: list[Block], folder: Path, scenario: Scenario | None = None) -> str:
    """The page for ``blocks``, embedding the PNGs the figures name from ``folder``.

    The scenario's settings, if there is one, follow its introduction (the paragraphs before the first
    section); a chaos experiment's report has none.
    """
    name = scenario.name if scenario is not None else "report"
    title = next((b.text for b in blocks if isinstance(b, Heading) and b.level == 1), name)
    parts: list[str] = []
    settled = scenario is None
    for block in blocks:
        if isinstance(block, Heading) and block.level > 1 and not settled:
            parts.append(_settings(scenario))  # type: ignore[arg-type]
            settled = True
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            parts.append(f"<p>{_text(block.text)}</p>")
        elif isinstance(block, Table):
            parts.append(_table(block))
        else:
            parts.append(_figure(block, folder))
    if not settled:
        parts.append(_settings(scenario))  # type: ignore[arg-type]
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)} — servicelab report</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )
