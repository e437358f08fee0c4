"""How a collection of values is written: a set, an ordered tuple, or a bare list.

The notation says whether order matters, and math-verify ignores it (it compared ``\\{8,-2\\}`` with the point
``(8,-2)`` in order, so ``\\{8,-2\\}`` matched and ``\\{-2,8\\}`` did not, and read ``(-2,1)`` as the roots
``-2, 1`` although it is an interval or a point):
- ``\\{a, b\\}`` is a set: unordered, never a point or an interval (``\\{8,-2\\}`` is not ``(8,-2)``);
- ``(a, b)`` is an ordered tuple (or an open interval): never the values of a bare list or a set (``(-2,1)``
  and ``(1,-2)`` are not the roots ``1,-2``, which the key lists for "enter all solutions, separated by
  commas");
- ``a, b`` with no brackets is a list of values, unordered like a set; against a tuple key it is the tuple
  with its brackets left out, in order (``8,-2`` is ``(8,-2)``, ``-2,8`` is not: the existing rule).
Values joined by "or" (``2 or 3``) are alternatives, unordered like a set: never the point ``(2,3)``.
A list of assignments (``x=8, y=-2``) states a point and is left to the other rules, and so is a one-element
set (``\\{(8,-2)\\}``, the solution set of a system).
"""

from __future__ import annotations

import re

__all__ = ["collection_shape", "shapes_conflict"]

_ALTERNATIVES = re.compile(r"(?<=[\w})])\s+or\s+(?=[\w\\(+-])")
_COMPARISON = re.compile(r"[<>]|\\[lg]eq?\b|\\le|\\ge")
_OPEN = "([{"
_CLOSE = ")]}"


def collection_shape(s: str) -> str | None:
    """``"set"``, ``"tuple"`` or ``"list"`` for a collection of two or more values written that way, else
    None (one value, an interval with a bracket, a union, a list of assignments)."""
    s = s.strip()
    if "=" in s:
        return None
    if s.startswith("\\{") and s.endswith("\\}") and _encloses(s, 1):
        return "set" if _top_level_comma(s[2:-2]) else None
    if s.startswith("(") and s.endswith(")") and _encloses(s, 0):
        return "tuple" if _top_level_comma(s[1:-1]) else None
    if _ALTERNATIVES.search(s) and not _COMPARISON.search(s):
        return "set"  # "2 or 3": values that may each hold, unordered, never the point (2,3)
    return "list" if _top_level_comma(s) else None


def shapes_conflict(reference: str, answer: str) -> bool:
    """True when the notations say different things: a tuple key and a set answer, or a list or set key and a
    tuple answer (module doc)."""
    ref, ans = collection_shape(reference), collection_shape(answer)
    return (ref == "tuple" and ans == "set") or (ref in ("list", "set") and ans == "tuple")


def _encloses(s: str, opener: int) -> bool:
    """True when the bracket at `opener` closes at the end: ``(1,2)``, not ``(1,2)\\cup(3,4)``."""
    depth = 0
    for i, ch in enumerate(s):
        if i < opener:
            continue
        depth += (ch in _OPEN) - (ch in _CLOSE)
        if depth == 0:
            return i == len(s) - 1
    return False


def _top_level_comma(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += (ch in _OPEN) - (ch in _CLOSE)
        if ch == "," and depth == 0:
            return True
    return False
