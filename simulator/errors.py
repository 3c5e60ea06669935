"""Problems found in a scenario, each with the path of the field at fault and, when known, its line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Loc", "Problem", "ScenarioError", "format_path"]

Loc = tuple[str | int, ...]


def format_path(loc: Loc) -> str:
    """``("routes", "shop", 0, "call")`` -> ``"routes.shop[0].call"``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a scenario: where (field path, YAML line) and what."""

    loc: Loc
    message: str
    line: int | None = None

    @property
    def path(self) -> str:
        return format_path(self.loc)

    def render(self, source: str | None = None) -> str:
        """``• path (file:line): message``; a problem with the whole file names only the line."""
        place = None if self.line is None else (f"{source}:{self.line}" if source else f"line {self.line}")
        if not self.loc:
            return f"• {place}: {self.message}" if place else f"• {self.message}"
        return f"• {self.path} ({place}): {self.message}" if place else f"• {self.path}: {self.message}"


class ScenarioError(ValueError):
    """A scenario that cannot be simulated; ``problems`` lists every reason found, one per field."""

    def __init__(self, problems: Sequence[Problem], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        head = f"{self.source}: " if self.source else ""
        count = len(self.problems)
        lines = [f"{head}{count} problem{'s' if count != 1 else ''} in the scenario"]
        lines += [problem.render(self.source) for problem in self.problems]
        return "\n".join(lines)
