"""Math typed in plain ASCII (no LaTeX at hand; Python and sympy output), read as the symbols it names.

`normalize` applies this before `unicode_math`, which then reads the symbols as LaTeX. Rewritten, each only as
a whole word (a number may stand before it: ``2pi``, ``3sqrt5``), never after a backslash (``\\sqrt``,
``\\pi`` are LaTeX already) nor inside a longer word (``spin``, ``pie``, ``sqrts``):
- ``sqrt`` -> ``√`` and ``cbrt`` -> ``∛``, whose radicand is then read by the Unicode rule: a bracketed group,
  else a number, else one letter (``sqrt(5)``, ``sqrt5`` and ``sqrt 66`` are roots of 5 and 66, ``2sqrt(113)``
  is 2√113, ``sqrt3/3`` is √3/3, ``sqrt x+1`` is √x + 1);
- ``pi``, ``Pi``, ``PI`` -> ``π`` (``12pi``, ``-pi/6``, ``288 pi``);
- ``**`` between two operands -> ``^`` (Python's power: ``x**3``, ``5*r**5``, ``2**(1/2)``).
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
_ROOT_SIGNS = {"sqrt": "√", "cbrt": "∛"}


def ascii_to_symbols(text: str) -> str:
    """`text` with ASCII spellings of roots, pi and powers as the symbols they stand for (module doc)."""
    if "sqrt" in text or "cbrt" in text:
        text = _ROOT.sub(lambda m: _ROOT_SIGNS[m[1]], text)
    if "i" in text or "I" in text:
        text = _PI.sub("π", text)
    if "**" in text:
        text = _POWER.sub("^", text)
    return text
