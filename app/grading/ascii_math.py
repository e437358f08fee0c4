"""Math typed in plain ASCII (no LaTeX at hand; Python and sympy output), read as the symbols it names.

`normalize` applies this before `unicode_math`, which then reads the symbols as LaTeX. Rewritten, each only as
a whole word (a number may stand before it: ``2pi``, ``3sqrt5``), never after a backslash (``\\sqrt``,
``\\pi`` are LaTeX already) nor inside a longer word (``spin``, ``pie``, ``sqrts``):
- ``sqrt`` -> ``√`` and ``cbrt`` -> ``∛``, whose radicand is then read by the Unicode rule: a bracketed group,
  else a number, else one letter (``sqrt(5)``, ``sqrt5`` and ``sqrt 66`` are roots of 5 and 66, ``2sqrt(113)``
  is 2√113, ``sqrt3/3`` is √3/3, ``sqrt x+1`` is √x + 1);
- a root in words before a number or a bracket: ``root 2``, ``square root of 2`` -> ``√2`` and ``cube root of
  27`` -> ``∛27`` (``the root is 5`` stays);
- ``pi``, ``Pi``, ``PI`` -> ``π`` (``12pi``, ``-pi/6``, ``288 pi``);
- a typed negative exponent braced: ``10^-3`` -> ``10^{-3}`` (math-verify could not parse it);
- ``**`` between two operands -> ``^`` (Python's power: ``x**3``, ``5*r**5``, ``2**(1/2)``);
- ``+-`` and ``+/-`` written without spaces -> ``\\pm`` (``+-2``, ``1 +/- sqrt(19)``; ``2 + -1`` is a
  sum); a capital ``U`` between two intervals -> ``\\cup`` (``(-inf, 2) U (3, inf)``);
- a whole answer that is a matrix as Python or sympy prints it, ``[[1, 2], [3, 4]]`` or
  ``Matrix([[1, 2], [3, 4]])``, and sympy's column ``Matrix([1, 2, 3])`` -> ``\\begin{pmatrix}...``
  (math-verify read the nested list as a tuple of intervals). A flat list ``[1, 2]`` stays an interval.
math-verify read ``pi`` as the product p·i (so ``12pi`` was not ``12\\pi``), ``sqrt5`` as a product of letters
and ``x**3`` not at all.
"""

from __future__ import annotations

import re

__all__ = ["ascii_to_symbols"]

_WORD = r"(?<![A-Za-z\\]){}(?![A-Za-z])"
_ROOT = re.compile(_WORD.format("(sqrt|cbrt)"))
_PI = re.compile(_WORD.format("(?:pi|Pi|PI)"))
_POWER = re.compile(r"(?<=[\w)\]}.])\s*\*\*\s*(?=[\w(\-+.\\])")
_NEGATIVE_POWER = re.compile(r"\^\s*-\s*(\d+(?:\.\d+)?)(?![\d.])")  # typed 10^-3 is 10^{-3}, not 10^{-}3
_PLUS_MINUS = re.compile(r"\+/?-(?!-)")  # "+-2", "+/-2"; "2 + -1" (spaced) stays a sum
_UNION = re.compile(r"(?<=[)\]])\s*U\s*(?=[(\[])")
_ROOT_SIGNS = {"sqrt": "√", "cbrt": "∛"}
# A root in words before a number or a bracket: "root 2", "square root of 2", "cube root of 27" ("the root
# is 5" keeps its words).
_ROOT_WORDS = re.compile(r"(?<![A-Za-z\\])(?:(?i:square)\s+|(?i:(cube))\s+)?(?i:root)(?:\s+of)?\s*(?=[\d(])")
_MATRIX = re.compile(r"^\s*(?:Matrix\(\s*(?P<call>\[.*\])\s*\)|(?P<rows>\[\s*\[.*\]\s*\]))\s*$", re.DOTALL)
_ROW_BREAK = re.compile(r"\]\s*,\s*\[")


def ascii_to_symbols(text: str) -> str:
    """`text` with ASCII spellings of roots, pi, powers and matrices as the symbols they stand for (module
    doc)."""
    text = _python_matrix(text)
    if "root" in text:
        text = _ROOT_WORDS.sub(lambda m: "∛" if m[1] else "√", text)
    if "sqrt" in text or "cbrt" in text:
        text = _ROOT.sub(lambda m: _ROOT_SIGNS[m[1]], text)
    if "i" in text or "I" in text:
        text = _PI.sub("π", text)
    if "**" in text:
        text = _POWER.sub("^", text)
    if "^" in text:
        text = _NEGATIVE_POWER.sub(r"^{-\1}", text)
    if "+" in text:
        text = _PLUS_MINUS.sub(r"\\pm ", text)
    if "U" in text:
        text = _UNION.sub(r"\\cup ", text)
    return text


def _python_matrix(text: str) -> str:
    """``[[1, 2], [3, 4]]``, ``Matrix([[1, 2], [3, 4]])`` and ``Matrix([1, 2])`` (a column) as a pmatrix;
    anything else unchanged."""
    m = _MATRIX.match(text)
    if m is None:
        return text
    listed = (m["call"] or m["rows"]).strip()[1:-1].strip()
    if listed.startswith("["):
        rows = [_entries(row) for row in _ROW_BREAK.split(listed.strip()[1:-1])]
    else:
        rows = [[entry] for entry in _entries(listed)]  # sympy's Matrix([1, 2]) is a column
    if any("[" in entry or "]" in entry for row in rows for entry in row) or len({len(r) for r in rows}) != 1:
        return text  # a nested list deeper than rows, or ragged rows: no plain matrix
    body = r" \\ ".join(" & ".join(entry.strip() for entry in row) for row in rows)
    return rf"\begin{{pmatrix}} {body} \end{{pmatrix}}"


def _entries(row: str) -> list[str]:
    """The comma-separated entries of a row, commas inside parentheses kept (``sqrt(2), atan2(1, 2)``)."""
    entries, depth, start = [], 0, 0
    for i, ch in enumerate(row):
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            entries.append(row[start:i])
            start = i + 1
    return [*entries, row[start:]]
