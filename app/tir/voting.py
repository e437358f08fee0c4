"""Self-consistency voting: group answers by an injected equivalence test, majority wins.

The default test (`normalized_equivalent`) runs in the service process, so it is deliberately small and
bounded: string normalisation of common LaTeX, then an exact rational/numeric comparison with sympy on
inputs that passed a strict whitelist (no `eval` of arbitrary text, no huge powers). The lead swaps in the
grading checker (math-verify in killable workers) through the `equivalent` argument.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.tir.trace import Vote

if TYPE_CHECKING:
    import sympy

__all__ = ["Equivalence", "VoteOutcome", "normalize_answer", "normalized_equivalent", "vote"]

Equivalence = Callable[[str, str], Awaitable[bool]]

_MAX_LEN = 80
_ALLOWED = re.compile(r"^(?:[0-9.+\-*/() ]|sqrt|pi)+$")
_BIG_POWER = re.compile(r"\*\*\s*\(?\s*\d{3,}|\*\*.*\*\*")

_REPLACEMENTS: tuple[tuple[str, str], ...] = (
    (r"\left", ""),
    (r"\right", ""),
    (r"\!", ""),
    (r"\,", ""),
    (r"\;", ""),
    (r"\ ", ""),
    (r"\dfrac", r"\frac"),
    (r"\tfrac", r"\frac"),
    (r"\cdot", "*"),
    (r"\times", "*"),
    (r"\pi", "pi"),
    ("^\\circ", ""),
    ("^{\\circ}", ""),
    (r"\%", ""),
    ("%", ""),
    (r"\$", ""),
    ("$", ""),
)


_TEXT = re.compile(r"\\(?:text|textbf|mbox|mathrm)\{([^{}]*)\}")


def _drop_text_units(s: str) -> str:
    """Drop \\text{} units after a value ("5\\text{ cm}"); an answer that is only text ("\\text{(A)}",
    "\\text{Yes}") keeps its words, or every such answer would normalise to "" and all vote together."""
    without = _TEXT.sub("", s)
    return without if without.strip() else _TEXT.sub(r"\1", s)


def normalize_answer(answer: str) -> str:
    """Canonical string form: LaTeX spacing, units in \\text{}, dollar signs, thousands commas removed."""
    s = answer.strip()
    for old, new in _REPLACEMENTS:
        s = s.replace(old, new)
    s = _drop_text_units(s)
    s = re.sub(r"(?<=\d),(?=\d{3}(?:\D|$))", "", s)  # 10,080 -> 10080
    s = s.replace("\\$", "").replace(" ", "").rstrip(".")
    s = re.sub(r"^[A-Za-z][A-Za-z0-9_']?=(?=[^=])", "", s)  # x=5 is 5 (Qwen2.5-Math's evaluation)
    s = re.sub(r"^\(([A-Z])\)$", r"\1", s)  # a choice letter: (C) is C
    if re.fullmatch(r"-?\d+\.0+", s):
        s = s.split(".")[0]
    return s


def _to_python_expr(s: str) -> str | None:
    """Translate a whitelisted LaTeX arithmetic answer into a sympy-parsable expression, else None."""
    if len(s) > _MAX_LEN:
        return None
    for _ in range(4):  # nested \frac / \sqrt, bounded
        s = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"((\1)/(\2))", s)
        s = re.sub(r"\\sqrt\{([^{}]*)\}", r"sqrt(\1)", s)
    s = re.sub(r"\\frac(\d)(\d)", r"(\1/\2)", s)
    s = re.sub(r"\\sqrt(\d+)", r"sqrt(\1)", s)
    s = s.replace("^", "**").replace("{", "(").replace("}", ")")
    s = re.sub(r"(\d|\))\s*(?=sqrt|pi|\()", r"\1*", s)  # implicit products: 2\sqrt{2}, 3(4)
    if not _ALLOWED.match(s) or _BIG_POWER.search(s):
        return None
    return s


def _value(s: str) -> sympy.Expr | None:
    expr = _to_python_expr(s)
    if expr is None:
        return None
    import sympy  # here, not at the top: the replay server and the CLI import this package without voting

    try:
        value = sympy.sympify(expr, locals={"sqrt": sympy.sqrt, "pi": sympy.pi}, rational=True)
    except (sympy.SympifyError, SyntaxError, TypeError, ValueError, ZeroDivisionError):
        return None
    return value if isinstance(value, sympy.Expr) and value.is_number else None


def _equal_numbers(a: sympy.Expr, b: sympy.Expr) -> bool:
    import sympy

    if a.is_Rational and b.is_Rational:
        return bool(a == b)
    try:
        fa, fb = complex(sympy.N(a, 30)), complex(sympy.N(b, 30))
    except (TypeError, ValueError):
        return False
    return abs(fa - fb) <= 1e-9 * max(1.0, abs(fa), abs(fb))


async def normalized_equivalent(a: str, b: str) -> bool:
    """Cheap equivalence: same normalised string, or the same number (3/2 == 1.5 == \\frac{3}{2})."""
    na, nb = normalize_answer(a), normalize_answer(b)
    if na == nb:
        return True
    va, vb = _value(na), _value(nb)
    return va is not None and vb is not None and _equal_numbers(va, vb)


@dataclass(frozen=True, slots=True)
class VoteOutcome:
    answer: str | None
    confidence: float  # votes for the winner / all samples (samples without an answer count too)
    votes: list[Vote]


async def vote(answers: Sequence[str | None], equivalent: Equivalence = normalized_equivalent) -> VoteOutcome:
    """Group answers by `equivalent` (a group's first answer represents it); ties go to the earliest.

    Answers with the same normalised text group without a call to `equivalent`."""
    groups: list[Vote] = []
    for answer in answers:
        if answer is None:
            continue
        for group in groups:
            # the same normalised text is the same answer without asking `equivalent`: an injected checker
            # that times out (False) must not split identical answers
            if normalize_answer(group.answer) == normalize_answer(answer) or await equivalent(
                group.answer, answer
            ):
                group.count += 1
                break
        else:
            groups.append(Vote(answer, 1))
    if not groups:
        return VoteOutcome(None, 0.0, [])
    ranked = sorted(groups, key=lambda g: -g.count)  # stable: earliest group wins a tie
    return VoteOutcome(ranked[0].answer, ranked[0].count / len(answers), ranked)
