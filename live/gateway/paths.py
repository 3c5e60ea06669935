"""Path patterns, as access rules and cache settings write them.

A pattern is a path of segments where ``*`` stands for any one segment and a final ``**`` for any
rest, including none: ``/orders/*`` matches ``/orders/7`` but not ``/orders`` or ``/orders/7/cancel``;
``/orders/**`` matches all three.
"""

from __future__ import annotations

__all__ = ["check_pattern", "path_matches"]


def path_matches(pattern: str, path: str) -> bool:
    """Whether ``path`` fits ``pattern``: ``*`` is one segment, a final ``**`` any rest (or none)."""
    wanted = pattern.strip("/").split("/")
    given = path.strip("/").split("/")
    if wanted[-1] == "**":
        head = wanted[:-1]
        return len(given) >= len(head) and all(w in ("*", g) for w, g in zip(head, given, strict=False))
    return len(wanted) == len(given) and all(w in ("*", g) for w, g in zip(wanted, given, strict=True))


def check_pattern(pattern: str, prefix: str) -> str | None:
    """What is wrong with ``pattern`` for a route under ``prefix``, or None when it is fine."""
    if "**" in pattern.split("/")[:-1]:
        return f"'**' may only be the last segment of a path pattern, got {pattern!r}"
    if pattern != prefix and not pattern.startswith(prefix + "/"):
        return f"{pattern!r} is not under the route's prefix {prefix!r}"
    return None
