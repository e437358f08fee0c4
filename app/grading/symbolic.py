"""The bridge to math-verify: parse an answer to sympy and compare two parsed answers.

math-verify's own `signal.alarm` timeouts are switched off (they fail outside the main thread); the time bound
is enforced by `CheckerPool`, which kills a worker that overruns.
Our corrections around it:
- ``x^(...)`` is rewritten to ``x^{...}`` with balanced parentheses (its regex cuts ``5^(5^(5^5))`` short);
- single-letter units are never stripped (we strip our own documented list in `normalize`);
- the symbol ``i`` is the imaginary unit on both sides (``e^{i\\pi} = -1``);
- exact numbers are compared exactly, never with float tolerance (``1/2^99 != 1/2^98``);
- infinite values compare by identity once evaluated: ``oo`` equals ``oo`` (``\\infty``, ``+\\infty``),
  ``-oo`` equals ``-oo``, complex infinity ``zoo`` (``1/0``) equals ``zoo``; none of them equals another or a
  finite number, and an indeterminate form (``\\infty - \\infty``, nan) equals nothing (``oo - oo`` is nan,
  so the exact rule for finite numbers cannot decide them).
"""

from __future__ import annotations

import functools
import logging

import sympy
from math_verify import parse, verify
from math_verify.parser import LatexExtractionConfig, NormalizationConfig

__all__ = ["exact_number", "parse_math", "symbolic_equal"]

# math-verify warns on every call that timeouts are disabled; we bound time ourselves.
logging.getLogger("math_verify").setLevel(logging.ERROR)

_CONFIG = [
    LatexExtractionConfig(
        boxed_match_priority=0,
        normalization_config=NormalizationConfig(
            basic_latex=True, units=False, malformed_operators=True, nits=False, boxed="all", equations=False
        ),
    )
]
_EXACT_PRECISION = 60
_NOT_FINITE = (sympy.S.Infinity, sympy.S.NegativeInfinity, sympy.S.ComplexInfinity, sympy.S.NaN)


@functools.lru_cache(maxsize=4096)
def parse_math(answer: str) -> sympy.Basic | sympy.MatrixBase | None:
    """The sympy form of a normalized answer, or None when math-verify cannot parse it.

    Cached: a homework job compares one key with many answers, and ANTLR parsing is most of a check's time.
    sympy objects are immutable, so sharing them is safe.
    """
    found = parse(f"${_brace_powers(answer)}$", _CONFIG, parsing_timeout=None)
    expr = next((x for x in found if not isinstance(x, str)), None)
    if expr is None:
        return None
    if isinstance(expr, sympy.MatrixBase):
        return sympy.ImmutableMatrix(expr)  # cached values must not be mutable
    if isinstance(expr, sympy.Basic):
        imaginary = {s: sympy.I for s in expr.free_symbols if getattr(s, "name", None) == "i"}
        if imaginary:
            expr = expr.subs(imaginary)
    return expr


def exact_number(expr: object) -> bool:
    """True for a closed-form number with no floats (``sqrt(2)/2``, ``2^{-99}``, ``pi``)."""
    return (
        isinstance(expr, sympy.Expr)
        and expr.is_number
        and not expr.atoms(sympy.Float)
        and not isinstance(expr, sympy.Symbol)
    )


def symbolic_equal(reference: object, answer: object) -> bool:
    """Mathematical equivalence of two parsed answers (order: reference first)."""
    if exact_number(reference) and exact_number(answer):
        return _exact_equal(reference, answer)  # type: ignore[arg-type]
    if _surely_different(reference, answer):
        return False
    if verify(reference, answer, numeric_precision=_EXACT_PRECISION, timeout_seconds=None):
        return True
    # math-verify reads an inequality as the interval it describes only on the gold side, so a key in
    # interval notation failed "x \le 2" while the reverse passed: the key's notation must not decide.
    if {kind(reference), kind(answer)} == {"interval", "relation"}:
        return bool(verify(answer, reference, numeric_precision=_EXACT_PRECISION, timeout_seconds=None))
    return False


def kind(expr: object) -> str:
    """The shape of a parsed answer: matrix, interval, tuple, set, relation, number, expression or other."""
    if isinstance(expr, sympy.MatrixBase):
        return "matrix"
    if isinstance(expr, (sympy.Interval, sympy.Union)):
        return "interval"
    if isinstance(expr, sympy.Tuple):
        return "tuple"
    if isinstance(expr, sympy.FiniteSet):
        return "set"
    if isinstance(expr, (sympy.core.relational.Relational, sympy.And, sympy.Or)):
        return "relation"
    if isinstance(expr, sympy.Expr):
        return "number" if not expr.free_symbols else "expression"
    return "other"


# Shapes that can never be equivalent; math-verify would spend up to a second simplifying to find out.
_DISJOINT = {
    frozenset(pair)
    for pair in [
        ("matrix", "interval"), ("matrix", "tuple"), ("matrix", "number"), ("matrix", "expression"),
        ("interval", "number"), ("interval", "expression"),
        ("tuple", "number"), ("tuple", "expression"), ("number", "expression"),
    ]
}  # fmt: skip


def _surely_different(a: object, b: object) -> bool:
    return frozenset((kind(a), kind(b))) in _DISJOINT


def _exact_equal(a: sympy.Expr, b: sympy.Expr) -> bool:
    if a.has(*_NOT_FINITE) or b.has(*_NOT_FINITE):
        a, b = a.doit(), b.doit()  # the parser leaves oo + 1, sqrt(oo), sums to oo unevaluated
        if _not_finite(a) or _not_finite(b):
            return a is not sympy.S.NaN and bool(a == b)
    diff = a - b
    if diff == 0:
        return True
    # A relative check at high precision, then a symbolic proof; floats with 15 digits are what fool
    # math-verify on 1/2^99 vs 1/2^98, so we never chop small values away.
    try:
        gap = abs(complex(sympy.N(diff, _EXACT_PRECISION)))
        scale = max(abs(complex(sympy.N(a, 20))), abs(complex(sympy.N(b, 20))), 1.0)
    except (TypeError, ValueError):  # no complex value: let math-verify decide
        return bool(verify(a, b, numeric_precision=_EXACT_PRECISION, timeout_seconds=None))
    if gap > scale * 1e-40:
        return False
    return bool(sympy.simplify(diff) == 0)


def _not_finite(value: sympy.Expr) -> bool:
    """An infinite value (``oo``, ``-oo``, ``zoo``, ``oo*I``) or nan; an unevaluated sum is neither."""
    return value is sympy.S.NaN or value.is_infinite is True


def _brace_powers(s: str) -> str:
    """Rewrite ``^( ... )`` as ``^{ ... }`` with balanced parentheses."""
    out: list[str] = []
    i = 0
    while i < len(s):
        if s[i] == "^" and s[i + 1 : i + 2] == "(":
            end = _matching_paren(s, i + 1)
            if end is not None:
                out.append("^{" + _brace_powers(s[i + 2 : end]) + "}")
                i = end + 1
                continue
        out.append(s[i])
        i += 1
    return "".join(out)


def _matching_paren(s: str, start: int) -> int | None:
    depth = 0
    for j in range(start, len(s)):
        if s[j] == "(":
            depth += 1
        elif s[j] == ")":
            depth -= 1
            if depth == 0:
                return j
    return None
