"""Plain numbers (integers, fractions, decimals, percents) and the decimal-precision rule.

Rule for decimals (the "digits the student wrote" rule):
- integers, fractions and terminating decimals are exact values and must be equal exactly
  (``0.25 == 1/4``, ``2.50 == 2.5``, but ``0.13 != 1/8``);
- a decimal answer for a reference with no terminating decimal form (``1/3``, ``sqrt(2)``, ``pi``) is accepted
  when it equals the reference correctly rounded to the number of decimal places written
  (``|ref - ans| <= 0.5 * 10**-places``) and carries at least `MIN_SIGNIFICANT_DIGITS` significant digits:
  ``0.3333`` and ``0.33333`` are 1/3, ``0.33`` and ``0.333`` are not;
- an answer of 15 or more significant digits is a computed double as Python prints it: it is accepted within
  one double's spacing of the reference (``1.4142135623730951`` for sqrt(2), ``0.6666666666666666`` for 2/3,
  whose last digit is not the correctly rounded one);
- a decimal *reference* may be the key's own rounding: an answer with more places (or an exact value) is
  accepted when it rounds to the reference at the reference's number of places and is precise enough to be
  the value rounded, not another short answer: an exact value with no terminating decimal (key ``0.33``,
  answer ``1/3``; key ``3.14``, answer ``\\pi``) or at least `MIN_SIGNIFICANT_DIGITS` significant digits
  (key ``2.5``, answer ``2.4937``). A key of ``0.7`` or ``4.5`` may be exact, so ``0.65``, ``0.74``, ``13/20``
  and ``4.54`` are not it (they were: they round to it).
Scientific notation, when it is the whole answer, is the number written out: ``1e6`` is 1000000, ``1E6``
too, ``2.5e-3`` is the decimal 0.0025 (its places and significant digits are those of the written-out form),
and so are ``6.02\\times 10^{23}``, ``3\\cdot 10^{-8}`` and typed ``3*10^8``, ``3.2 x 10^5`` (math-verify made
the mantissa a float, so ``6.02\\times 10^{23}`` was not 602000000000000000000000).
A lowercase ``e`` with a signed exponent after an integer other than 1 is Euler's number (``2e-1`` is
2e - 1, ``e-1`` and ``3e`` are never numbers); a decimal mantissa (``2.5e-3``), a mantissa of 1 (``1e-6``)
or a zero-padded exponent (``2e-05``, as Python prints) make it e-notation.
A repeating decimal is the exact fraction it stands for: the repetend under ``\\overline{}`` or
``\\bar{}``, one digit also unbraced (``0.\\bar3``; ``0.\\overline{3}`` and ``0.1\\overline{6}`` are
1/3 and 1/6), in parentheses (``0.(3)``, ``0.1(6)``: the European notation, never a product) or dotted
(``0.\\dot{3}``; ``0.\\dot{1}\\dot{2}`` repeats 12).
A whole answer in English number words below a thousand is that integer: ``eighteen``, ``twenty-one``,
``one hundred and five`` (GSM8K answers a teacher would accept); ``one two`` and ``eighteen apples`` are no
numbers. A count with one scale word (hundred, thousand, million, billion, trillion) is the exact number it
names: ``2.5 billion`` is 2500000000, ``1 million`` and ``one million`` 1000000, ``twelve hundred`` 1200,
``two thousand five hundred`` 2500 (a rounded figure is not the exact value: ``1.3 million`` is not 1283400).
A fraction in words is its value: ``one half``, ``a half`` and ``half`` are 1/2, ``two-thirds`` and ``3
quarters`` 2/3 and 3/4, ``one and a half`` 3/2; an ordinal alone (``fifth``) is no fraction.
Percent: ``5\\%`` (``five percent`` in words) is the value 1/20, so it equals 0.05. The sign may also be
dropped like a unit: ``5\\%`` and a bare 5 are equal (a key of 20 for "what percentage ..." accepts
``20\\%``). An answer's sign is dropped so only against a key with the sign or a bare whole or decimal number
over 1: a fraction or a number under 1 is a proportion, so ``0.25\\%`` (0.0025) is not 1/4 or 0.25.
Two bare numbers are never scaled: 5 is not 0.05 and not 500.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import Decimal
from fractions import Fraction
from math import gcd

__all__ = [
    "MIN_SIGNIFICANT_DIGITS", "PlainNumber", "expand_scientific", "numbers_equal", "parse_plain_number",
    "without_percent",
]  # fmt: skip

MIN_SIGNIFICANT_DIGITS = 4
_DOUBLE_DIGITS = 15  # a printed double has 15-17 significant digits
_DOUBLE_EPS = Fraction(1, 2**52)  # the double next to x is x * 2**-52 away: the error of a computed value

_INT = r"\d+"
_DECIMAL = r"(?:\d+\.\d*|\.\d+)"
_NUMBER = re.compile(rf"^(?P<sign>[+-]?)\s*(?P<body>{_DECIMAL}|{_INT})\s*(?P<pct>\\?%)?$")
# At most 3 exponent digits: 1e999999999 written out would be a gigabyte of zeros.
_SCIENTIFIC = re.compile(
    rf"^(?P<sign>[+-]?)\s*(?P<mantissa>{_DECIMAL}|{_INT})(?P<e>[eE])(?P<exp>(?P<expsign>[+-]?)(?P<pad>0?)\d{{1,3}})$"
)
# 0.1\overline{6}, 0.(3), 0.\dot{1}\dot{2}: the digits before the repetend, then the repetend.
_REPEATING = re.compile(
    r"^(?P<sign>[+-]?)\s*(?P<int>\d*)\.(?P<fixed>\d*)\s*"
    r"(?:\\(?:overline|bar)\s*(?:\{\s*(?P<bar>\d+)\s*\}|(?P<bar1>\d))|\(\s*(?P<paren>\d+)\s*\)"
    r"|\\dot\s*\{?(?P<dot1>\d)\}?(?:(?P<between>\d*)\\dot\s*\{?(?P<dot2>\d)\}?)?)$"
)
_SMALL = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
)  # fmt: skip
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ONE_TO_NINE = "|".join(_SMALL[1:10])
# [X hundred [and]] [tens[-ones] | zero..nineteen]; longer words first so "seventeen" is not "seven".
_WORDS = re.compile(
    rf"^(?:(?P<hundreds>{_ONE_TO_NINE}) hundred(?:$| (?:and )?(?=[a-z])))?"
    rf"(?:(?P<tens>{'|'.join(_TENS[2:])})(?:[- ](?P<ones>{_ONE_TO_NINE}))?"
    rf"|(?P<small>{'|'.join(sorted(_SMALL, key=len, reverse=True))}))?$"
)
_DENOMINATORS = {
    "half": 2, "third": 3, "quarter": 4, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10,
}  # fmt: skip
# [whole and] [count] denominator: "one and a half", "two-thirds", "3 quarters", "half".
_FRACTION_WORDS = re.compile(
    r"^(?:(?P<whole>\d+|[a-z][a-z\- ]*?) and )?(?:(?P<count>\d+|an?|[a-z][a-z\- ]*?)[ -])?"
    r"(?P<den>half|halves|(?:third|quarter|fourth|fifth|sixth|seventh|eighth|ninth|tenth)s?)$"
)
# A sign in words, or a minus before number words: "minus 5", "negative 2.5", "-five" (not "--5").
_NEGATIVE_WORD = re.compile(r"^(?:-\s*(?=[A-Za-z])|(?i:minus|negative)\s+)(?P<rest>[^-+\s].*)$")
_DOZEN = re.compile(r"^(?:(?P<count>\d+|an?|[a-z][a-z\- ]*?)\s+)?dozen$")
_WORDS_PERCENT = re.compile(r"^(?P<words>[A-Za-z][A-Za-z\- ]*?)\s*(?:\\?%|percent|per cent)$", re.IGNORECASE)
_SCALES = {"hundred": 100, "thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
# "2.5 billion", "one million", "twelve hundred", "two thousand five hundred": a count, then one scale word.
_SCALED = re.compile(
    rf"^(?P<sign>[+-]?)\s*(?P<count>{_DECIMAL}|{_INT}|[a-z][a-z\- ]*?)\s+(?P<scale>{'|'.join(_SCALES)})"
    r"(?:\s+(?:and\s+)?(?P<rest>[a-z][a-z\- ]*))?$"
)
# 3\times 10^{8}, 6.02 \cdot 10^{23}, 3*10^8, 3.2 x 10^5 (typed 10^23 is 10 to the 23rd, not 10^2 then 3).
_TIMES_TEN = re.compile(
    rf"^(?P<sign>[+-]?)\s*(?P<mantissa>{_DECIMAL}|{_INT})\s*(?:\\times|\\cdot|\*|[xX])\s*10\s*\^\s*"
    r"(?:\{\s*(?P<exp>[+-]?\d{1,3})\s*\}|(?P<exp1>[+-]?\d{1,3}))$"
)
_SLASH = re.compile(rf"^(?P<sign>[+-]?)\s*(?P<num>{_INT})\s*/\s*(?P<den>{_INT})\s*(?P<pct>\\?%)?$")
_FRAC = re.compile(
    r"^(?P<sign>[+-]?)\s*\\[dt]?frac\s*(?:\{\s*(?P<nsign>-?)\s*(?P<num>\d+)\s*\}|(?P<num1>\d))"
    r"\s*(?:\{\s*(?P<den>\d+)\s*\}|(?P<den1>\d))\s*(?P<pct>\\?%)?$"
)


@dataclass(frozen=True, slots=True)
class PlainNumber:
    """A number written out literally. `places` is the count of decimals written (None if not a decimal)."""

    value: Fraction
    text: str
    places: int | None = None
    significant: int = 0
    reducible: bool = False  # a fraction not in lowest terms, e.g. 2/4 (strict mode rejects it)
    percent: bool = False  # written with a % sign; `value` is already divided by 100

    @property
    def is_decimal(self) -> bool:
        return self.places is not None


def parse_plain_number(s: str) -> PlainNumber | None:
    """Parse ``-12``, ``0.50``, ``3/4``, ``\\frac{3}{4}``, ``\\frac34``, ``5\\%``, ``1e6``, ``minus 5``,
    ``a dozen``; None for anything else."""
    s = expand_scientific(s.strip())
    if (m := _NEGATIVE_WORD.match(s)) and (number := _unsigned_number(m["rest"])) is not None:
        return replace(number, value=-number.value, text=s)  # "minus 5", "negative 2.5", "-five"
    if (dozens := _dozens(s)) is not None:
        return PlainNumber(Fraction(dozens), s)
    return _unsigned_number(s)


def _unsigned_number(s: str) -> PlainNumber | None:
    if m := _NUMBER.match(s):
        return _from_literal(m["sign"], m["body"], bool(m["pct"]), s)
    if (value := _number_words(s)) is not None:
        return PlainNumber(Fraction(value), s)
    if (m := _WORDS_PERCENT.match(s)) and (value := _number_words(m["words"])) is not None:
        return PlainNumber(Fraction(value, 100), s, percent=True)  # "fifty percent" (normalize made it \%)
    if (scaled := _scaled(s)) is not None:
        return PlainNumber(scaled, s)
    if (fraction := _fraction_words(s)) is not None:
        return PlainNumber(fraction, s)
    if m := _REPEATING.match(s):
        return _from_repeating(m)
    if m := _SLASH.match(s):
        return _from_fraction(m["sign"], int(m["num"]), int(m["den"]), bool(m["pct"]), s)
    if m := _FRAC.match(s):
        sign = "-" if (m["sign"] == "-") != (m["nsign"] == "-") else ""
        num = int(m["num"] if m["num"] is not None else m["num1"])
        den = int(m["den"] if m["den"] is not None else m["den1"])
        return _from_fraction(sign, num, den, bool(m["pct"]), s)
    return None


def expand_scientific(s: str) -> str:
    """`s` written out when it is one number in scientific notation (``2.5e-3``, ``2.5\\times10^{-3}`` ->
    ``0.0025``), else `s` unchanged.

    math-verify reads ``1e6`` as the product 1·e·6, so the checker hands it the written-out form too.
    """
    if m := _TIMES_TEN.match(s.strip()):  # 6.02\times10^{23}: a float in math-verify, off in the 17th digit
        return m["sign"] + format(Decimal(m["mantissa"] + "e" + (m["exp"] or m["exp1"])), "f")
    m = _SCIENTIFIC.match(s.strip())
    if m is None or _euler(m):
        return s
    return m["sign"] + format(Decimal(m["mantissa"] + "e" + m["exp"]), "f")


def _euler(m: re.Match[str]) -> bool:
    """``2e-1`` is 2e - 1: a lowercase e and a signed exponent after an integer mantissa other than 1."""
    integer_mantissa = "." not in m["mantissa"] and m["mantissa"].lstrip("0") != "1"
    return m["e"] == "e" and bool(m["expsign"]) and integer_mantissa and not m["pad"]


def _from_literal(sign: str, body: str, percent: bool, text: str) -> PlainNumber:
    value = Fraction(body)
    places = len(body.split(".", 1)[1]) if "." in body else None
    digits = body.replace(".", "").lstrip("0")
    significant = len(digits) if places is not None else len(digits.rstrip("0")) or 1
    if percent:
        value /= 100
        places = places + 2 if places is not None else None
    return PlainNumber(-value if sign == "-" else value, text, places, significant, percent=percent)


def _number_words(s: str) -> int | None:
    """``twenty-one`` -> 21, ``one hundred and five`` -> 105; None unless `s` is that and nothing else."""
    m = _WORDS.match(s.strip().lower())
    if m is None or not any(m.groups()):
        return None
    value = _SMALL.index(m["hundreds"]) * 100 if m["hundreds"] else 0
    value += _TENS.index(m["tens"]) * 10 if m["tens"] else 0
    ones = m["ones"] or m["small"]
    return value + (_SMALL.index(ones) if ones else 0)


def _dozens(s: str) -> int | None:
    """``a dozen``, ``one dozen`` -> 12, ``2 dozen`` -> 24; None unless `s` is that."""
    m = _DOZEN.match(s.strip().lower())
    if m is None:
        return None
    count = _count(m["count"]) if m["count"] else 1
    return None if count is None else 12 * count


def _scaled(s: str) -> Fraction | None:
    """``2.5 billion`` -> 2500000000, ``twelve hundred`` -> 1200, ``two thousand five hundred`` -> 2500; None
    unless `s` is a count (digits or words), one scale word and words for less than the scale."""
    m = _SCALED.match(s.strip().lower())
    if m is None:
        return None
    count = m["count"]
    value = Fraction(count) if count[0] in "0123456789." else _count(count)  # "a thousand" is 1000
    rest = _number_words(m["rest"]) if m["rest"] else 0
    scale = _SCALES[m["scale"]]
    if value is None or rest is None or rest >= scale or (m["rest"] and count[0] in "0123456789."):
        return None
    total = value * scale + rest
    return -total if m["sign"] == "-" else Fraction(total)


def _fraction_words(s: str) -> Fraction | None:
    """``two thirds`` -> 2/3, ``3 quarters`` -> 3/4, ``one and a half`` -> 3/2, ``half`` -> 1/2; None unless
    `s` is that. An ordinal with no count (``fifth``) is no fraction."""
    m = _FRACTION_WORDS.match(s.strip().lower())
    if m is None:
        return None
    denominator = _DENOMINATORS[m["den"].rstrip("s") if m["den"] != "halves" else "half"]
    count = _count(m["count"]) if m["count"] else (1 if denominator == 2 else None)
    whole = _count(m["whole"]) if m["whole"] else 0
    if count is None or whole is None:
        return None
    return whole + Fraction(count, denominator)


def _count(word: str) -> int | None:
    """``a``/``an`` -> 1, digits or number words -> their integer; else None."""
    if word in ("a", "an"):
        return 1
    return int(word) if word.isdigit() else _number_words(word)


def _from_repeating(m: re.Match[str]) -> PlainNumber:
    """The exact value of a repeating decimal: ``0.1\\overline{6}`` is 1/10 + 6/90 = 1/6."""
    repetend = m["bar"] or m["bar1"] or m["paren"] or m["dot1"] + (m["between"] or "") + (m["dot2"] or "")
    fixed = m["fixed"]
    value = Fraction(int(m["int"] or "0")) + Fraction(int(fixed or "0"), 10 ** len(fixed))
    value += Fraction(int(repetend), (10 ** len(repetend) - 1) * 10 ** len(fixed))
    return PlainNumber(-value if m["sign"] == "-" else value, m.string)


def _from_fraction(sign: str, num: int, den: int, percent: bool, text: str) -> PlainNumber | None:
    if den == 0:
        return None
    value = Fraction(num, den) / (100 if percent else 1)
    reducible = gcd(num, den) > 1 or den == 1
    return PlainNumber(-value if sign == "-" else value, text, None, 0, reducible, percent)


def without_percent(number: PlainNumber) -> PlainNumber:
    """The number with its % sign dropped like a unit: ``5\\%`` read as 5."""
    places = number.places - 2 if number.places is not None else None
    return replace(number, value=number.value * 100, places=places, percent=False)


def terminates(value: Fraction) -> bool:
    """True when `value` has a finite decimal expansion (denominator of the form 2^a 5^b)."""
    den = value.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    return den == 1


def numbers_equal(
    reference: Fraction, answer: PlainNumber, reference_places: int | None = None, *, irrational: bool = False
) -> bool:
    """Apply the module's decimal rule. `reference` is exact unless `reference_places` says it is rounded;
    `irrational` says it is a close rational approximation of an irrational closed form."""
    if answer.value == reference:
        return True
    if reference_places is not None and (answer.places is None or answer.places > reference_places):
        return _more_precise(answer) and _rounds_to(answer.value, reference, reference_places)
    if not answer.is_decimal or (terminates(reference) and not irrational):
        return False
    if answer.significant < MIN_SIGNIFICANT_DIGITS:
        return False
    return _rounds_to(reference, answer.value, answer.places) or _printed_double(reference, answer)


def _printed_double(reference: Fraction, answer: PlainNumber) -> bool:
    """A float as Python prints it: the shortest digits that give back the double, which may be one unit off
    the correctly rounded last digit (``1.4142135623730951`` for sqrt(2), ``0.6666666666666666`` for 2/3)."""
    close = abs(reference - answer.value) <= abs(reference) * _DOUBLE_EPS
    return answer.significant >= _DOUBLE_DIGITS and close


def _more_precise(answer: PlainNumber) -> bool:
    """Whether `answer` can be the value a decimal key rounds: an exact value with no terminating decimal
    (``1/3``), or digits enough to be more than another short answer (``0.3333``, ``57/160`` = 0.35625; not
    ``0.54`` or ``13/20`` = 0.65 against a key of 0.5 or 0.7, which may well be exact)."""
    if answer.places is not None:
        return answer.significant >= MIN_SIGNIFICANT_DIGITS
    if not terminates(answer.value):
        return True
    value = abs(answer.value)
    places = 0
    while (value * 10**places).denominator != 1:
        places += 1
    digits = str(int(value * 10**places)).strip("0")
    return len(digits) >= MIN_SIGNIFICANT_DIGITS


def _rounds_to(exact: Fraction, rounded: Fraction, places: int | None) -> bool:
    half_ulp = Fraction(1, 2 * 10 ** (places or 0))
    return abs(exact - rounded) <= half_ulp
