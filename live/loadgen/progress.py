"""A rich progress bar for a load run: requests settled (answered, failed or dropped) out of those
planned, and how many are in flight and were dropped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["Counts", "Report", "progress_bar"]


@dataclass
class Counts:
    """Where the requests of a run stand now."""

    finished: int = 0
    in_flight: int = 0
    dropped: int = 0


Report = Callable[[Counts], None]
"""Called now and then during a run with the current counts."""


@contextmanager
def progress_bar(total: int, console: Console | None = None) -> Iterator[Report]:
    """A bar on stderr for ``total`` planned requests; yields the function that updates it."""
    bar = Progress(
        TextColumn("load"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[in_flight]} in flight, {task.fields[dropped]} dropped"),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        transient=False,
    )
    task = bar.add_task("load", total=total, in_flight=0, dropped=0)

    def update(counts: Counts) -> None:
        bar.update(
            task,
            completed=counts.finished + counts.dropped,
            in_flight=counts.in_flight,
            dropped=counts.dropped,
        )

    with bar:
        yield update
