"""Where plots draw: the caller's Axes, or a new pyplot figure for interactive use.

pyplot is imported only when a new figure is needed, so the command line and the report (which
draw on their own ``Figure`` objects) never pay for it or touch the interactive backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["axes_or_new"]


def axes_or_new(ax: Axes | None, figsize: tuple[float, float] = (7, 4)) -> Axes:
    """``ax`` itself, or the Axes of a new pyplot figure of ``figsize`` inches."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new = plt.subplots(figsize=figsize, layout="constrained")
    return new
