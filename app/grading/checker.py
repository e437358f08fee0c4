"""`check(reference, answer)`: is a student's final answer equivalent to the reference?

The rules, in the order they are tried (see `numbers`, `numerals`, `normalize`, `extract` for the details):
1. extraction: last ``\\boxed{}``, answer markers, bare answer, last expression; nothing -> ``no_answer``;
2. normalization: Unicode math rewritten as LaTeX (``√2``, ``x²``, ``x₁``, ``1½``, ``∞``, ``≤``; see
   `unicode_math`), ``oo`` and ``\\varnothing`` as ``\\infty`` and ``\\emptyset``, ``2 1/2`` as 5/2, then
   spacing, thousands separators, currency, degrees and documented units removed;
3. identical strings -> ``equal_string``;
4. multiple choice: a reference letter A-E (bare, in parentheses or ``\\text{}``) is compared as a letter
   (``C``, ``(c)``, ``[C]``, ``Option C``, ``(C) 12``); an answer naming two choices (``(C) and (D)``,
   ``(C), D``) is none;
5. text answers (names, words): compared ignoring case, spacing, ``\\text{}`` and a leading article
   (``an ellipse`` is ``ellipse``); number words (``eighteen``) are numbers;
6. ratios and times ``3:4``, ``2:30``: term by term, only with another colon form (``6:8`` and ``3/4`` are not
   ``3:4``);
   base-n numerals ``1011_2``: the same digits in the same base (``52`` is ``52_8``, ``3`` is not ``11_2``);
   plain numbers: exact for integers and fractions, decimals by the digits written, percent as a value (or
   with the sign dropped like a unit when the key has it or is a bare number over 1; never a bare x100),
   scientific notation as the number written out (``1e6``, ``6.02\\times10^{23}``); an angle with a degree
   sign is the same angle in radians (``45^\\circ`` is ``\\frac{\\pi}{4}``; a bare ``45`` is not);
7. collections by their brackets: a set ``\\{8,-2\\}`` is never the point ``(8,-2)``, a tuple ``(-2,1)``
   never the list of roots ``1,-2`` (see `shapes`);
8. everything else goes to math-verify (sets, intervals, tuples, matrices, equations, expressions), with exact
   comparison of closed-form numbers, infinities by identity (``+\\infty`` is ``\\infty``, ``-\\infty``
   is not), inequalities (joined by or / and) as the intervals they describe, and vectors as tuples (see
   `symbolic`).
Answers too long (over `MAX_ANSWER_CHARS`) or nested too deeply (over `MAX_NESTING` brackets) to be real
answers are ``parse_error`` at once: parsing them took the worker's whole time bound or crashed it.
`strict=True` also rejects answers not in simplest form (``2/4``, ``\\sqrt{8}``): ``not_simplified``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from fractions import Fraction
from math import gcd, isqrt

import sympy

from app.grading.extract import extract_answer
from app.grading.normalize import has_degree_sign, normalize, unwrap_text
from app.grading.numbers import (
    PlainNumber,
    expand_scientific,
    numbers_equal,
    parse_plain_number,
    without_percent,
)
from app.grading.numerals import base_numbers_equal, parse_base_number, parse_ratio
from app.grading.shapes import shapes_conflict
from app.grading.symbolic import exact_number, keep_letter_case, parse_math, symbolic_equal
from app.grading.verdict import Verdict

__all__ = ["MAX_ANSWER_CHARS", "MAX_NESTING", "check", "check_many"]

MAX_ANSWER_CHARS = 2000  # MATH-500's longest answer has 53; Python refuses ints of over 4,300 digits
MAX_NESTING = 10  # brackets open at once: MATH-500 nests 2 deep; math-verify takes seconds past 10 braces

# Matched with spaces removed: "C", "(c)", "[C]", "Option C", "(C) 12"; never two choices ("(C) and (D)",
# "(C), D").
_CHOICE = re.compile(
    r"^(?i:option|choice)?[(\[]?([A-Ea-e])[)\]]?$"
    r"|^\(([A-E])\)(?!.*\([A-Ea-e]\))(?!(?:,|;|&|and|or)?[A-E](?:$|[,;]))(?=.)"
)
_CHOICE_REFERENCE = re.compile(r"^(?:\(\s*[A-Ea-e]\s*\)|[A-E])$")
_CENTS = re.compile(r"^\s*(?P<cents>\d+)\s*(?:¢|\\text\s*\{\s*cents?\s*\}|(?i:cents?))\.?\s*$")
_VOWEL = re.compile(r"[aeiouAEIOU]")
_ARTICLE = re.compile(r"^(?:an?|the)\s+(?=[A-Za-z])", re.IGNORECASE)  # "an ellipse" names the ellipse
_WORDS = re.compile(r"^[A-Za-z][A-Za-z '\-]*[A-Za-z]$")
_MATH_WORDS = frozenset(
    {"sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "exp", "sqrt", "pi", "infty", "inf", "arcsin",
     "arccos", "arctan", "sinh", "cosh", "tanh", "det", "max", "min", "gcd", "lcm", "mod"}
)  # fmt: skip
_REDUCIBLE_FRAC = re.compile(
    r"\\[dt]?frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}|(?<![\d.])(\d+)\s*/\s*(\d+)(?![\d.])"
)
_SQRT = re.compile(r"\\sqrt\s*\{\s*(\d+)\s*\}|\\sqrt\s*(\d)")


def check(reference: str, answer: str, *, strict: bool = False) -> Verdict:
    """Compare `answer` (bare or a worked solution) with `reference`, in this process, without a time bound.

    Use `CheckerPool` for untrusted input: it runs this function in killable workers.
    """
    ref_text = extract_answer(reference)
    if ref_text is None:
        return Verdict(False, "no_reference", "the reference holds no answer")
    if problem := _unreadable(ref_text):
        return Verdict(False, "parse_error", f"the reference is {problem}")
    ans_text = extract_answer(answer)
    if ans_text is None:
        return Verdict(False, "no_answer", "the submission holds no answer", ref_text)
    if problem := _unreadable(ans_text):
        return Verdict(False, "parse_error", f"the answer is {problem}", ref_text)
    ref, ans = normalize(ref_text), normalize(ans_text)
    ref, ans = _in_radians(ref_text, ref, ans), _in_radians(ans_text, ans, ref)
    if not ans:
        return Verdict(False, "no_answer", "the submission holds no answer", ref)
    try:
        reason, message = _compare(ref, ans)
        dollars = None if reason.startswith("equal") else _cents_in_dollars(ans_text)
        if dollars is not None and _compare(ref, dollars)[0].startswith("equal"):
            reason, message = "equal_numeric", "the same amount in dollars"
    except Exception as exc:  # a parser bug on odd input must not become a 500
        return Verdict(False, "error", f"comparison failed: {type(exc).__name__}", ref, ans)
    equal = reason.startswith("equal")
    if equal and strict and not _simplified(ans):
        return Verdict(False, "not_simplified", "equal in value but not in simplest form", ref, ans)
    return Verdict(equal, reason, message, ref, ans)


def check_many(pairs: Iterable[tuple[str, str]], *, strict: bool = False) -> list[Verdict]:
    """`check` over (reference, answer) pairs, in this process; `CheckerPool.check_many` bounds time."""
    return [check(ref, ans, strict=strict) for ref, ans in pairs]


def _unreadable(text: str) -> str | None:
    """Why `text` is no answer to parse (too long, nested too deeply), or None."""
    if len(text) > MAX_ANSWER_CHARS:
        return f"too long to parse (over {MAX_ANSWER_CHARS} characters)"
    depth = deepest = 0
    for ch in text:
        depth += (ch in "([{") - (ch in ")]}")
        deepest = max(deepest, depth)
    if deepest > MAX_NESTING:
        return f"nested too deeply to parse (over {MAX_NESTING} brackets)"
    return None


def _cents_in_dollars(answer: str) -> str | None:
    """``75 cents`` (or ``75¢``) as the dollars ``0.75``, for a key in dollars; None for anything else. The
    unit rule already reads it as 75, for a key in cents."""
    m = _CENTS.match(answer)
    if m is None:
        return None
    cents = int(m["cents"])
    return f"{cents // 100}.{cents % 100:02d}"


def _in_radians(text: str, normalized: str, other: str) -> str:
    """An angle in degrees (``45^\\circ``) as radians (``\\frac{1\\pi}{4}``) when the other side is in radians
    (holds ``\\pi``) and marks no degrees; else `normalized`. A bare 45 is no angle in degrees."""
    if not has_degree_sign(text) or "\\pi" not in other or has_degree_sign(other):
        return normalized
    number = parse_plain_number(normalized)
    if number is None:
        return normalized
    turns = number.value / 180
    sign = "-" if turns < 0 else ""
    return rf"{sign}\frac{{{abs(turns.numerator)}\pi}}{{{turns.denominator}}}"


def _compare(ref: str, ans: str) -> tuple[str, str]:
    if _squash(ref) == _squash(ans):
        return "equal_string", "identical after normalization"
    if _CHOICE_REFERENCE.match(_squash(unwrap_text(ref))):
        return _compare_choice(ref, ans)
    if _is_text(ref) and parse_plain_number(ref) is None:  # "eighteen" is a number (`numbers`)
        return _compare_text(ref, ans)
    ref_ratio, ans_ratio = parse_ratio(ref), parse_ratio(ans)
    if ref_ratio is not None or ans_ratio is not None:  # a ratio or a time, never a quotient (`numerals`)
        if ref_ratio == ans_ratio:
            return "equal_numeric", "the same terms in the same order"
        return "not_equal", "a different ratio or time"
    ref_base, ans_base = parse_base_number(ref), parse_base_number(ans)
    if ref_base is not None and ans_base is not None and (ref_base.base or ans_base.base):
        if base_numbers_equal(ref_base, ans_base):  # 1011_2 is 1011_{2}, never 1011_3 nor 11 (`numerals`)
            return "equal_numeric", "the same digits in the same base"
        return "not_equal", "a different numeral or base"
    ref_number, ans_number = parse_plain_number(ref), parse_plain_number(ans)
    if ref_number is not None and ans_number is not None:
        return _compare_numbers(ref_number, ans_number)
    if shapes_conflict(ref, ans):  # a set is no point; a tuple is no list of roots (`shapes`)
        return "not_equal", "a set, a tuple and a list of values are different answers"
    # math-verify would read 1e6 as 1·e·6: it gets e-notation written out, as the plain numbers were read.
    ref, ans = keep_letter_case(expand_scientific(ref), expand_scientific(ans))
    return _compare_symbolic(ref, ans, ref_number, ans_number)


def _compare_choice(ref: str, ans: str) -> tuple[str, str]:
    ref_letter = _CHOICE.match(_squash(unwrap_text(ref)))
    ans_letter = _CHOICE.match(_squash(unwrap_text(ans)))
    if ref_letter and ans_letter and _letter(ref_letter) == _letter(ans_letter):
        return "equal_choice", f"same choice ({_letter(ref_letter)})"
    return "not_equal", "a different choice"


def _letter(match: re.Match[str]) -> str:
    return (match[1] or match[2]).upper()


def _compare_text(ref: str, ans: str) -> tuple[str, str]:
    if _text_key(ref) == _text_key(ans):
        return "equal_text", "same words ignoring case and spacing"
    return "not_equal", "different words"


def _compare_numbers(ref: PlainNumber, ans: PlainNumber) -> tuple[str, str]:
    if ref.value == ans.value:
        return "equal_numeric", "equal values"
    if numbers_equal(ref.value, ans, ref.places):
        return "equal_decimal", "equal at the precision written"
    # One side wrote the % sign, the other left it out like a unit.
    if ref.percent != ans.percent and (ref.percent or _percentage_key(ref)):
        bare_ref, bare_ans = (
            without_percent(ref) if ref.percent else ref,
            without_percent(ans) if ans.percent else ans,
        )
        if bare_ref.value == bare_ans.value or numbers_equal(bare_ref.value, bare_ans, bare_ref.places):
            return "equal_numeric", "equal as a percentage (the % sign is read as a unit)"
    return "not_equal", "different values"


def _percentage_key(ref: PlainNumber) -> bool:
    """Whether a bare key can be a percentage with its sign left out (``20`` for "what percentage ...", so
    ``20\\%`` passes). A fraction or a number under 1 is a proportion: ``0.25\\%`` is 0.0025, never 1/4."""
    return (ref.is_decimal or ref.value.denominator == 1) and abs(ref.value) > 1


def _compare_symbolic(
    ref: str, ans: str, ref_number: PlainNumber | None, ans_number: PlainNumber | None
) -> tuple[str, str]:
    ref_expr = parse_math(ref)
    if ref_expr is None:
        return "parse_error", "the reference could not be parsed"
    if ans_number is not None and ans_number.is_decimal and exact_number(ref_expr):
        # A decimal for a closed form (sqrt(2), pi): the digits-written rule, on the exact value.
        exact = _exact_value(ref_expr)
        if exact is None:
            return "not_equal", "a real decimal for a non-real reference"
        if numbers_equal(exact[0], ans_number, irrational=exact[1]):
            return "equal_decimal", "equal at the precision written"
        return "not_equal", "different values"
    ans_expr = parse_math(ans)
    if ans_expr is None:
        return "parse_error", "the answer could not be parsed"
    if ref_number is not None and ref_number.is_decimal and exact_number(ans_expr):
        # A closed form for a decimal key (3.14 and pi): the key's own rounding, as for 0.33 and 1/3.
        exact = _exact_value(ans_expr)
        if exact is not None and numbers_equal(
            ref_number.value, PlainNumber(exact[0], ans), ref_number.places
        ):
            return "equal_decimal", "the key is this value rounded"
        return "not_equal", "different values"
    if symbolic_equal(ref_expr, ans_expr):
        return "equal_symbolic", "mathematically equivalent"
    return "not_equal", "not equivalent"


def _exact_value(expr: sympy.Expr) -> tuple[Fraction, bool] | None:
    """A closed-form number as a fraction (exact, or to 40 digits) and whether it is irrational; None when it
    is not real."""
    value = expr.doit()
    if isinstance(value, sympy.Rational):
        return Fraction(int(value.p), int(value.q)), False
    approx = sympy.N(expr, 40)
    if not approx.is_real:
        return None
    return Fraction(str(sympy.Rational(approx))), not value.is_rational


def _squash(s: str) -> str:
    """`s` without spacing, except one space between two digits (``2 3`` is two numbers, not 23)."""
    return re.sub(r"(?<=\d)\s+(?=\d)", " ", re.sub(r"(?<!\d)\s+|\s+(?!\d)", "", s))


def _is_text(ref: str) -> bool:
    plain = unwrap_text(ref).strip()
    if not _WORDS.match(plain):
        return False
    words = re.findall(r"[A-Za-z]+", plain)
    wrapped = plain != ref.strip()
    # A word: 3+ letters with a vowel, not a function name ("odd", "Evelyn"; "xyz" and "sin" stay math).
    return (wrapped and len(plain) > 1) or any(
        len(w) >= 3 and _VOWEL.search(w) and w.lower() not in _MATH_WORDS for w in words
    )


def _text_key(s: str) -> str:
    return re.sub(r"[\s\-']+", "", _ARTICLE.sub("", unwrap_text(s).strip())).casefold()


def _simplified(ans: str) -> bool:
    """Strict mode: no reducible integer fractions, no integer radicals with a square factor."""
    for m in _REDUCIBLE_FRAC.finditer(ans):
        num, den = (int(m[1]), int(m[2])) if m[1] is not None else (int(m[3]), int(m[4]))
        if den == 1 or gcd(num, den) > 1:
            return False
    for m in _SQRT.finditer(ans):
        n = int(m[1] or m[2])
        if n in (0, 1) or any(n % (k * k) == 0 for k in range(2, isqrt(n) + 1)):
            return False
    return True
