"""The bridge to math-verify: parse an answer to sympy and compare two parsed answers.

math-verify's own `signal.alarm` timeouts are switched off (they fail outside the main thread); the time bound
is enforced by `CheckerPool`, which kills a worker that overruns.
Our corrections around it:
- its parser lowercases letters (``3R^2`` is ``3r^2``, a documented leniency); where either side writes one
  letter in both cases (``a+A``, ``\\frac{A}{a}``) they are two variables, so each capital is renamed first
  (`keep_letter_case`; ``a+A`` was ``2a``);
- ``x^(...)`` is rewritten to ``x^{...}`` with balanced parentheses (its regex cuts ``5^(5^(5^5))`` short);
- single-letter units are never stripped (we strip our own documented list in `normalize`);
- a single ``\\pm`` (``\\mp``) that math-verify cannot read, inside a fraction, gives the set of both values:
  ``\\frac{1\\pm\\sqrt{5}}{2}`` is ``\\frac{1+\\sqrt{5}}{2}, \\frac{1-\\sqrt{5}}{2}``;
- the symbol ``i`` is the imaginary unit on both sides (``e^{i\\pi} = -1``), and so is ``j`` in an answer
  with no ``i`` when the reference is complex (``1+2j`` is ``1+2i``; beside a real key ``j`` stays a letter);
- exact numbers are compared exactly, never with float tolerance (``1/2^99 != 1/2^98``); a complex number
  in polar form is its rectangular form (``\\sqrt{2}e^{i\\pi/4}`` is ``1+i``);
- inequalities joined by "or" (``or``, ``\\text{or}``, ``\\lor``, ``\\vee``) are their disjunction and by
  "and" (``and``, ``\\text{and}``, ``\\land``, ``\\wedge``) their conjunction (math-verify reads both as
  the list {x<-2, x>2}); an inequality, such a combination or ``-2<x<2``, in one variable, is the set of reals
  it describes when the other side is an interval or union (either side may be the key), or another such
  combination in the same variable: ``x<-2 or x>2`` is ``(-\\infty,-2)\\cup(2,\\infty)``; ``x \\in [-2,7]``
  is its interval there too (``-2 \\le x \\le 7`` matched it only as the answer, not as the key);
- a list of assignments to different variables, in any order, is the point of their values ordered by the
  variables' names: ``y=-2, x=8`` is ``(8,-2)`` (x before y, a before b, r before theta), like
  ``x=8, y=-2``, which math-verify matched only in the written order (and ``y=8, x=-2`` too); one
  variable assigned twice (``x=2, x=4``) is a list of roots, no point;
- a vector (a matrix with one row or one column) and a tuple are compared entry by entry, in order:
  ``\\begin{pmatrix}1\\\\2\\end{pmatrix}`` is ``(1,2)`` (which math-verify reads as an open interval), and so
  are a row and a column vector (``\\begin{pmatrix}1 & 2\\end{pmatrix}``: a vector is its entries in order);
- a scalar times a matrix, or a sum of matrices, is evaluated (``\\frac{1}{49}\\begin{pmatrix}16\\\\48
  \\end{pmatrix}``); math-verify's repair of ``\\frac{1}2`` no longer reaches past the fraction into a
  later brace (it read that matrix's 16 as 1+6);
- infinite values compare by identity once evaluated: ``oo`` equals ``oo`` (``\\infty``, ``+\\infty``),
  ``-oo`` equals ``-oo``, complex infinity ``zoo`` (``1/0``) equals ``zoo``; none of them equals another or a
  finite number, and an indeterminate form (``\\infty - \\infty``, nan) equals nothing (``oo - oo`` is nan,
  so the exact rule for finite numbers cannot decide them).
"""

from __future__ import annotations

import functools
import logging
import re

import sympy
from math_verify import parse, verify
from math_verify.parser import LatexExtractionConfig, NormalizationConfig
from sympy.core.function import AppliedUndef

__all__ = ["exact_number", "keep_letter_case", "parse_math", "symbolic_equal"]

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
# "or"/"and" as a word, a \text{} word or a logic symbol; group 1, 2 or 3 holds the connective.
_CONNECTIVE = re.compile(
    r"\\(?:text|textrm|textit|textbf|mbox|mathrm)\s*\{\s*(or|and)\s*\}"
    r"|\\(lor|vee|land|wedge)(?![A-Za-z])"
    r"|(?<![A-Za-z\\])(or|and)(?![A-Za-z])"
)
_FRAC_DIGIT = re.compile(r"\\frac\s?\{([^{}]*)\}\s?(\d)")
_BRACE_DIGIT = re.compile(r"\}\s?(?=\d)")
_PLUS_MINUS = re.compile(r"\\(pm|mp)(?![A-Za-z])")
_DISJUNCTIONS = frozenset({"or", "lor", "vee"})
# A run of letters outside a command: in math, each letter is a variable ("bB" is b·B), except in a word.
_LETTER_RUN = re.compile(r"(?<![A-Za-z\\])[A-Za-z]+")
_WORDS_IN_MATH = frozenset(
    {"or", "and", "sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "exp", "max", "min", "gcd", "lcm",
     "mod", "det", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh"}
)  # fmt: skip
_NAMING_ARGUMENT = re.compile(r"\\(?:mathbb|mathcal|text|textrm|mathrm|operatorname|begin|end)\s*\{[^{}]*\}")
# One upright letter (\mathrm{A}, \text{a}) is a variable, not a name: a+\mathrm{A} writes both cases too.
# \mathrm{e} and \mathrm{i} stay: they are Euler's number and the imaginary unit.
_UPRIGHT_LETTER = re.compile(r"\\(?:mathrm|textrm|text|math(?:it|bf|sf))\s*\{\s*([A-DF-HJ-Za-df-hj-z])\s*\}")
_EXACT_PRECISION = 60
_NOT_FINITE = (sympy.S.Infinity, sympy.S.NegativeInfinity, sympy.S.ComplexInfinity, sympy.S.NaN)


@functools.lru_cache(maxsize=4096)
def parse_math(answer: str) -> sympy.Basic | sympy.MatrixBase | None:
    """The sympy form of a normalized answer, or None when math-verify cannot parse it.

    Cached: a homework job compares one key with many answers, and ANTLR parsing is most of a check's time.
    sympy objects are immutable, so sharing them is safe.
    """
    combined = _combined_inequalities(answer)
    if combined is not None:
        return combined
    found = parse(f"${_guard_fractions(_brace_powers(answer))}$", _CONFIG, parsing_timeout=None)
    expr = next((x for x in found if not isinstance(x, str)), None)
    if expr is None:
        return _plus_minus(answer)
    if isinstance(expr, sympy.MatrixExpr) and not isinstance(expr, sympy.MatrixBase):
        expr = _evaluated_matrix(expr)
    if isinstance(expr, sympy.MatrixBase):
        return sympy.ImmutableMatrix(expr)  # cached values must not be mutable
    if isinstance(expr, sympy.Basic):
        imaginary = {s: sympy.I for s in expr.free_symbols if getattr(s, "name", None) == "i"}
        if imaginary:
            expr = expr.subs(imaginary)
    return expr


def keep_letter_case(reference: str, answer: str) -> tuple[str, str]:
    """Both answers with each capital letter renamed (``A`` -> ``A_{u}``) when either uses one letter in both
    cases (``a+A``), else unchanged.

    math-verify's parser lowercases letters, so ``a+A`` was ``2a`` and ``\\frac{A}{a}`` was 1; where one side
    writes both cases they are two variables. One case per letter keeps the documented leniency
    (``3R^2`` is ``3r^2``).
    """
    bare_ref, bare_ans = _UPRIGHT_LETTER.sub(r"\1", reference), _UPRIGHT_LETTER.sub(r"\1", answer)
    if not (_mixed_case(bare_ref) or _mixed_case(bare_ans)):
        return reference, answer
    return _rename_capitals(bare_ref), _rename_capitals(bare_ans)


def _letters(text: str) -> set[str]:
    return {
        letter
        for run in _LETTER_RUN.findall(_NAMING_ARGUMENT.sub(" ", text))
        if run.lower() not in _WORDS_IN_MATH
        for letter in run
    }


def _mixed_case(text: str) -> bool:
    letters = _letters(text)
    return any(letter.isupper() and letter.lower() in letters for letter in letters)


def _rename_capitals(text: str) -> str:
    """Capitals outside naming arguments as ``X_{u}``, which lowercasing cannot merge with ``x``."""
    out, start = [], 0
    for match in _NAMING_ARGUMENT.finditer(text):
        out += [_capitals_subscripted(text[start : match.start()]), match[0]]
        start = match.end()
    return "".join([*out, _capitals_subscripted(text[start:])])


def _capitals_subscripted(text: str) -> str:
    """Each capital of a letter run as ``X_{u}``; one with a subscript of its own (``A_1``) stays."""

    def rename(match: re.Match[str]) -> str:
        run = match[0]
        if run.lower() in _WORDS_IN_MATH:
            return run
        subscripted = text[match.end() : match.end() + 1] == "_"
        keep = len(run) - 1 if subscripted else -1
        return "".join(f"{ch}_{{u}}" if ch.isupper() and i != keep else ch for i, ch in enumerate(run))

    return _LETTER_RUN.sub(rename, text)


def _guard_fractions(answer: str) -> str:
    """Keep math-verify's ``\\frac{1}2`` repair from reaching past the fraction.

    Its pattern ``\\frac{(.*?)}\\s?(\\d)`` runs on to the first later brace before a digit, so
    ``\\frac{1}{49}\\begin{pmatrix}16`` became ``\\begin{pmatrix}{1}6``, the entry 16 read as 1+6 = 7. We make
    the repair it means (``\\frac{1}2`` -> ``\\frac{1}{2}``) and set any other digit after a brace two spaces
    apart, which its one optional space cannot cross (LaTeX ignores the spaces).
    """
    if "\\frac" not in answer:
        return answer
    return _BRACE_DIGIT.sub("}  ", _FRAC_DIGIT.sub(r"\\frac{\1}{\2}", answer))


def _evaluated_matrix(expr: sympy.MatrixExpr) -> sympy.Basic:
    """A scalar times a matrix (``\\frac{1}{49}\\begin{pmatrix}16\\\\48\\end{pmatrix}``), or a sum of
    matrices, as the matrix it is; math-verify left the product unevaluated, equal to no matrix."""
    try:
        value = expr.doit()
    except (TypeError, ValueError, sympy.ShapeError):
        return expr
    return value if isinstance(value, sympy.MatrixBase) else expr


def _plus_minus(answer: str) -> sympy.Basic | None:
    """``\\frac{1\\pm\\sqrt{5}}{2}`` as the set of its two values; math-verify reads ``\\pm`` only outside
    a fraction. One sign, no list (``\\pm 1, \\pm 2`` has no single expansion); else None."""
    signs = _PLUS_MINUS.findall(answer)
    if len(signs) != 1 or "," in answer:
        return None
    plus, minus = ("+", "-") if signs[0] == "pm" else ("-", "+")
    values = [parse_math(_PLUS_MINUS.sub(sign, answer)) for sign in (plus, minus)]
    if not all(isinstance(value, (sympy.Expr, sympy.Eq)) for value in values):
        return None
    return sympy.FiniteSet(*values)


def _combined_inequalities(answer: str) -> sympy.Basic | None:
    """``x<-2 or x>2`` as an Or, ``x>-2 and x<2`` as an And; None unless every part is an inequality.

    Equations keep math-verify's reading (``x=1 or x=2`` is the roots 1, 2), and so does a mix of "or" and
    "and", whose grouping we would have to guess.
    """
    cuts = [m for m in _CONNECTIVE.finditer(answer) if _depth(answer, m.start()) == 0]
    if not cuts:
        return None
    disjunction = {(m[1] or m[2] or m[3]) in _DISJUNCTIONS for m in cuts}
    if len(disjunction) > 1:
        return None
    bounds = [0, *(i for m in cuts for i in m.span()), len(answer)]
    parts = [parse_math(answer[a:b].strip(" ,")) for a, b in zip(bounds[::2], bounds[1::2], strict=True)]
    if not all(_is_inequality(part) for part in parts):
        return None
    return sympy.Or(*parts) if disjunction.pop() else sympy.And(*parts)


def _depth(s: str, end: int) -> int:
    """Brackets open before `end`, of any kind: an interval ``(0,1]`` opens and closes one."""
    return sum(ch in "([{" for ch in s[:end]) - sum(ch in ")]}" for ch in s[:end])


def _is_inequality(expr: object) -> bool:
    """``<``, ``\\le``, ``>``, ``\\ge``, ``\\ne``, or an And / Or of them (``-2<x<2``); not an equation."""
    if isinstance(expr, (sympy.And, sympy.Or)):
        return all(_is_inequality(arg) for arg in expr.args)
    return isinstance(expr, sympy.core.relational.Relational) and not isinstance(expr, sympy.Eq)


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
    answer = _engineering_j(reference, answer)
    if exact_number(reference) and exact_number(answer):
        return _exact_equal(reference, answer)  # type: ignore[arg-type]
    vectors = _vector_entries(reference, answer)
    if vectors is not None:
        ref_entries, ans_entries = vectors
        return len(ref_entries) == len(ans_entries) and all(map(symbolic_equal, ref_entries, ans_entries))
    graph = _graph_sides(reference, answer)
    if graph is not None:
        return symbolic_equal(*graph)
    assigned = _compare_assignments(reference, answer)
    if assigned is not None:
        return assigned
    if _surely_different(reference, answer):
        return False
    if verify(reference, answer, numeric_precision=_EXACT_PRECISION, timeout_seconds=None):
        return True
    joined = _join_list(reference, answer)
    if joined is not None:
        return symbolic_equal(*joined)
    # math-verify reads an inequality as the interval it describes only on the gold side, and never an
    # "or" of inequalities, so "x \le 2" failed a key in interval notation while the reverse passed: we read
    # the inequalities as sets ourselves, so the key's notation does not decide.
    sets = _solution_sets(reference, answer)
    if sets is not None:
        return bool(verify(*sets, numeric_precision=_EXACT_PRECISION, timeout_seconds=None))
    return False


def _vector_entries(reference: object, answer: object) -> tuple[list, list] | None:
    """The entries of a vector and a tuple, or of a row and a column vector, else None; ``(1,2)`` counts as a
    tuple although math-verify reads it as an open interval."""
    ref, ans = _entries(reference), _entries(answer)
    if ref is None or ans is None:
        return None
    matrices = isinstance(reference, sympy.MatrixBase), isinstance(answer, sympy.MatrixBase)
    if matrices == (False, False) or (all(matrices) and reference.shape == answer.shape):  # type: ignore[union-attr]
        return None  # two tuples, or two vectors of one shape: math-verify compares them
    return ref, ans


def _engineering_j(reference: object, answer: object) -> object:
    """The answer with ``j`` as the imaginary unit when the reference is complex and the answer has no ``i``
    (``1+2j``, as engineers and Python write it); else the answer as it is."""
    if not (
        isinstance(reference, sympy.Basic) and isinstance(answer, sympy.Basic) and reference.has(sympy.I)
    ):
        return answer
    if answer.has(sympy.I):
        return answer
    j = next((s for s in answer.free_symbols if getattr(s, "name", None) == "j"), None)
    return answer if j is None else answer.subs(j, sympy.I)


def _graph_sides(reference: object, answer: object) -> tuple[object, object] | None:
    """The right sides when one equation names a function (``f(x) =``, ``f^{-1}(x) =``, which math-verify
    reads as 1/f(x)) and the other ``y =``: two ways to write one graph. Else None."""
    if not (isinstance(reference, sympy.Eq) and isinstance(answer, sympy.Eq)):
        return None
    sides = (reference.lhs, answer.lhs)
    names_y = any(isinstance(side, sympy.Symbol) and side.name == "y" for side in sides)
    if names_y and any(side.atoms(AppliedUndef) for side in sides):
        return reference.rhs, answer.rhs
    return None


def _compare_assignments(reference: object, answer: object) -> bool | None:
    """A list of assignments ``y=-2, x=8`` against a tuple or vector: the point of its values ordered by
    variable name; one variable assigned twice (``x=2, x=4``: roots) is no point. None when not that case."""
    for listed, other in ((answer, reference), (reference, answer)):
        assignments = _assignments(listed)
        if assignments is None or _entries(other) is None:
            continue
        names = [eq.lhs.name for eq in assignments]
        if len(set(names)) != len(names):
            return False
        point = sympy.Tuple(*(eq.rhs for eq in sorted(assignments, key=lambda eq: eq.lhs.name)))
        return symbolic_equal(other, point) if listed is answer else symbolic_equal(point, other)
    return None


def _assignments(expr: object) -> tuple[sympy.Eq, ...] | None:
    """The items of a list ``x=8, y=-2`` when each assigns a value to a variable, else None."""
    if not isinstance(expr, sympy.FiniteSet) or len(expr.args) < 2:
        return None
    if not all(isinstance(eq, sympy.Eq) and isinstance(eq.lhs, sympy.Symbol) for eq in expr.args):
        return None
    return expr.args


def _entries(expr: object) -> list | None:
    if isinstance(expr, sympy.MatrixBase):
        return list(expr) if 1 in expr.shape else None  # a 2x2 matrix is no vector, even beside a 4-tuple
    if isinstance(expr, sympy.Tuple):
        return list(expr.args)
    if isinstance(expr, sympy.Interval) and expr.left_open and expr.right_open:
        return [expr.start, expr.end]
    return None


def _join_list(reference: object, answer: object) -> tuple[object, object] | None:
    """The pair with a comma list of inequalities joined by the other side's "or" / "and", or None.

    ``x<-2, x>2`` says neither "or" nor "and", so beside ``x<-2 or x>2`` it is read as an "or" and beside
    ``x>0 and y>0`` a list ``x>0, y>0`` as an "and" (math-verify read all three as lists, so they matched).
    """
    for combined, listed in ((reference, answer), (answer, reference)):
        if (
            isinstance(combined, (sympy.And, sympy.Or))
            and _is_inequality(combined)
            and isinstance(listed, sympy.FiniteSet)
            and all(_is_inequality(item) for item in listed.args)
        ):
            joined = (sympy.Or if isinstance(combined, sympy.Or) else sympy.And)(*listed.args)
            return (combined, joined) if combined is reference else (joined, combined)
    return None


def _solution_sets(reference: object, answer: object) -> tuple[sympy.Set, sympy.Set] | None:
    """Both sides as sets of reals, when one is an inequality and the other an interval, or both are
    inequalities in the same variable and one is an and/or combination; else None."""
    kinds = {kind(reference), kind(answer)}
    if kinds == {"relation"}:
        combined = any(
            isinstance(e, (sympy.And, sympy.Or)) or _membership(e) is not None for e in (reference, answer)
        )
        if not combined or reference.free_symbols != answer.free_symbols:  # type: ignore[attr-defined]
            return None  # plain relations keep math-verify's rules; x<2 is not y<2
    elif kinds != {"interval", "relation"}:
        return None
    ref, ans = _as_set(reference), _as_set(answer)
    return None if ref is None or ans is None else (ref, ans)


def _as_set(expr: object) -> sympy.Set | None:
    """An interval as it is, an inequality in one variable as the set of reals it describes, else None."""
    if isinstance(expr, sympy.Set):
        return expr
    if (members := _membership(expr)) is not None:
        return members
    if not _is_inequality(expr):
        return None
    # "f(x) \le 2" states a range: the value f(x) is the variable (math-verify reads it so too).
    values = {call: sympy.Symbol(str(call)) for call in expr.atoms(AppliedUndef)}  # type: ignore[attr-defined]
    expr = expr.xreplace(values)  # type: ignore[attr-defined]
    if len(expr.free_symbols) != 1:
        return None
    try:
        return expr.as_set()  # type: ignore[attr-defined]
    except (NotImplementedError, TypeError, ValueError, sympy.PolynomialError):  # beyond sympy's solver
        return None


def _membership(expr: object) -> sympy.Set | None:
    """The set of ``x \\in [-2,7]`` (math-verify's Eq(x, Interval)), else None."""
    if isinstance(expr, sympy.Eq) and isinstance(expr.lhs, sympy.Symbol) and isinstance(expr.rhs, sympy.Set):
        return expr.rhs
    return None


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
    if sympy.simplify(diff) == 0:
        return True
    # simplify leaves 1 + i - sqrt(2)e^{i pi/4} as 1 - (-1)^{1/4}sqrt(2) + i; real and imaginary parts cancel.
    return bool(sympy.simplify(sympy.expand_complex(diff)) == 0)


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
