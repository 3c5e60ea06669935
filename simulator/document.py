"""A report as plain blocks -- headings, paragraphs, tables, figures -- and its Markdown rendering.

:mod:`simulator.report` builds the report once, as a list of blocks whose text is already formatted
(numbers via :mod:`simulator.tables`); :func:`render_markdown` writes ``report.md`` from them and
:func:`simulator.htmlpage.render_html` writes ``report.html``. Text is plain: each renderer does its own
escaping, so a scenario's name or description may contain any character.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Block", "Figure", "Heading", "Paragraph", "Table", "render_markdown"]


@dataclass(frozen=True)
class Heading:
    """A section title; ``level`` 1 is the report's title."""

    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    """Running text; its lines are kept as they are."""

    text: str


@dataclass(frozen=True)
class Table:
    """A table of text cells: ``header`` names the columns, each row has one cell per column."""

    header: list[str]
    rows: list[list[str]] = field(default_factory=list)


@dataclass(frozen=True)
class Figure:
    """A plot written next to the report as ``file`` (a PNG), with its ``title``."""

    file: str
    title: str


Block = Heading | Paragraph | Table | Figure


def _cell(text: str) -> str:
    """A Markdown table cell: a ``|`` would end the cell and a newline the row."""
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: list[Block]) -> str:
    """The blocks as GitHub-flavoured Markdown, one blank line between blocks."""
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Paragraph):
            lines.append(block.text)
        elif isinstance(block, Table):
            lines.append(f"| {' | '.join(_cell(c) for c in block.header)} |")
            lines.append("|---" * len(block.header) + "|")
            lines += [f"| {' | '.join(_cell(c) for c in row)} |" for row in block.rows]
        else:
            lines.append(f"![{block.title}]({block.file})")
        lines.append("")
    return "\n".join(lines)
