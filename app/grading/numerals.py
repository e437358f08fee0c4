"""Numerals compared by their notation, not only their value: ratios and times, base-n numbers.

Ratios and clock times ``a:b`` (``a:b:c``) are compared term by term, in order, and only with another colon
form: ``3:4`` is ``3 : 4`` but not ``6:8``, ``4:3`` or ``3/4``. The same notation is a time, where ``2:30``
is not ``1:15``, and a ratio question asks for lowest terms; math-verify read ``:`` as division.
A base-n number ``1011_2``, ``1011_{2}``, ``2A_{16}`` (digits, then the base 2-36 as a subscript; typed
``40_10`` is base 10, not LaTeX's subscript 1 followed by 0) is its
digits in its base: it equals the same digits in the same base (leading zeros aside) or the same digits with
no base written (``52`` for a key ``52_8``: the student answered in the base asked and left the subscript
out), never another base (``1011_3``) nor its value in base ten (``11_2`` is not ``3``: the question asked
for the base-2 numeral; math-verify dropped the subscript and read ``1011_2`` as ``1011_3``). A plain key
is in base ten: ``14_{10}`` is ``14``, ``10_2`` is not ``10`` (its value is two) and ``11_2`` not ``3``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from app.grading.numbers import parse_plain_number

__all__ = ["BaseNumber", "base_numbers_equal", "parse_base_number", "parse_ratio"]

_INT = r"\d+"
_BASE = re.compile(r"^(?P<digits>\d[0-9A-Z]*)\s*_\s*(?:\{\s*(?P<base>\d{1,2})\s*\}|(?P<base1>\d{1,2}))$")


@dataclass(frozen=True, slots=True)
class BaseNumber:
    """A numeral: its digits (upper case, no leading zeros) and its base, None when none was written."""

    digits: str
    base: int | None


def parse_base_number(s: str) -> BaseNumber | None:
    """``1011_2``, ``2A_{16}`` with their base; a plain integer ``52`` with none; anything else None."""
    if m := _BASE.match(s.strip()):
        base = int(m["base"] or m["base1"])
        if 2 <= base <= 36:
            return BaseNumber(m["digits"].lstrip("0") or "0", base)
        return None
    if re.fullmatch(_INT, s.strip()):
        return BaseNumber(s.strip().lstrip("0") or "0", None)
    return None


def base_numbers_equal(reference: BaseNumber, answer: BaseNumber) -> bool:
    """Same digits, and the same base unless the answer wrote none (module doc)."""
    if reference.base is None:  # a key in base ten: 10_2 is two, not ten
        return answer.base == 10 and reference.digits == answer.digits
    return answer.base in (None, reference.base) and reference.digits == answer.digits


def parse_ratio(s: str) -> tuple[Fraction, ...] | None:
    """The terms of a ratio or time ``3:4``, ``1 : 2 : 3``, ``2:30`` (plain numbers only), or None."""
    if ":" not in s:
        return None
    terms = [parse_plain_number(term) for term in s.split(":")]
    if any(term is None or term.percent for term in terms):
        return None
    return tuple(term.value for term in terms)  # type: ignore[union-attr]
