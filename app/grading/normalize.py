"""String-level clean-up of an extracted answer before it is classified and parsed.

First, plain-ASCII math (``sqrt5``, ``2pi``, ``x**3``) becomes the symbols it names (`app.grading.ascii_math`)
and Unicode math a student typed (``√2``, ``x²``, ``x₁``, ``10⁻³``, ``1½``, ``∞``, ``≤``, ``3·4``) is
rewritten as LaTeX by `app.grading.unicode_math` (their module docs list the rules). Then rewritten:
- other spellings of the same symbol: ``\\colon`` -> ``:`` (``3\\colon 4``); a vector's angle brackets
  ``\\langle 1, 2 \\rangle`` -> ``(1, 2)``, the tuple of its entries; the digits of a base-n number
  unwrapped (``\\text{1011}_2``, ``(1011)_2`` -> ``1011_2``); ``\\log_e`` -> ``\\ln``; ``oo``/``-oo``
  (sympy's infinity, in model output) -> ``\\infty`` when it is a whole token (``(0, oo)``; not in ``foo``,
  ``book``, ``zoo``); "negative infinity", "minus \\infty" as a whole answer -> ``-\\infty``;
  ``\\varnothing``, ``\\{\\}`` and a whole answer in words (also inside ``\\text{}``)
  "no (real) solution(s)", "there is no solution", "no real roots", "none" -> ``\\emptyset``; "DNE",
  "does not exist", "the limit does not exist" -> ``\\text{DNE}`` (not the empty set: a limit); "all real
  numbers", "all reals", "all real x" -> ``\\mathbb{R}``;
- ISO's upright constants ``\\mathrm{i}``, ``\\text{i}``, ``\\mathrm{e}`` -> ``i``, ``e``
  (``3+4\\text{i}`` was ``3+4`` with a unit dropped); a whole answer that is one wrapper around a number
  (``\\text{10}``, ``\\textbf{10 cm}``, ``\\hbox{5}``, ``\\mathbf{-3}``) -> its content;
- set-builder notation as its condition (``\\{x \\mid x > 2\\}``, ``{x | x > 2}``,
  ``\\{x \\in \\mathbb{R} : x > 2\\}`` -> ``x > 2``, which the checker reads as the interval it describes);
  French interval brackets turned outward as open ends (``]3, +\\infty[`` -> ``(3,+\\infty)``, ``[1,3[`` ->
  ``[1,3)``, ``]1;3]`` -> ``(1,3]``);
- a plain-text mixed number (an integer, one space, a proper fraction) that is the whole answer or a whole
  comma-separated item: ``2 1/2`` -> ``\\frac{5}{2}``, ``-2 1/2`` -> ``-\\frac{5}{2}`` (``2 3/2``, ``x 1/2``
  and ``2 1/2x`` stay as written), like ``2\\frac{1}{2}`` and ``2½``.
Then removed (documented homework rules):
- spacing commands (``\\!``, ``\\,``, ``\\;``, ``\\:``, ``\\ ``, ``~``), ``\\left``/``\\right``,
  ``\\displaystyle``;
- thousands separators: ``{,}`` and ``,\\!`` always; a plain ``12,345`` or ``12 345`` (SI) only when the whole
  answer is that one number in groups of three (otherwise the comma separates list items: ``1, 234`` is two
  numbers; and digits a space apart are never joined otherwise: ``2 3`` is not 23);
- currency: an amount in dollars and cents is the decimal (``18 dollars and 50 cents`` -> ``18.50``);
  ``\\$``, ``$``, ``€``, ``£``, ``¥``, ``¢``, "dollars", "cents", "euros", and a code before or
  after the amount (``USD 18``, ``US$18``, ``Rs. 250``, ``18 USD``, ``EUR``);
- degrees: ``^\\circ``, ``^{\\circ}``, ``\\circ``, ``°``, ``\\degree``, "degrees", and a typed ``^o`` after a
  number (``120^o``);
- trailing units from `UNITS` after a number or a closing bracket, with an optional full stop (``5 sq.
  units``, ``5 ft.``) and ``^2``/``^3``, and rates: a unit (or m, mi, g, L) per a unit (or s, h, L, gal),
  ``90 km/hr``, ``8 ft/s``, ``150 m/min``, ``60 miles per hour``, ``18 g/mol``, ``2.5 mol/L`` (``5 a/b``
  keeps its letters),
  bare or inside ``\\text{}``/``\\mbox{}``/``\\mathrm{}``. The list holds only words and multi-letter
  abbreviations: bare single letters (m, g, s, h, ...) are never removed since they may be variables;
  any words inside ``\\text{}`` right after a number are removed (``5\\text{ m}``, ``12\\text{ apples}``),
  and so are one or two plain words of 3+ letters after a whole-answer number (``20 apples``, ``12 red
  cars``, ``3/4 cup``; not ``2 squared``, ``5 hundred``, ``3 quarters``, ``1 or more``, nor single letters).
- an ellipsis after a decimal: the digits it ends with twice or more are its repetend (``0.333...``,
  ``0.1666\\ldots``, ``0.2727…`` -> ``0.\\overline{3}``, ``0.1\\overline{6}``, ``0.\\overline{27}``); with no
  repeated block (``3.14159...``) the decimal as written;
- a leading ``=``, ``\\approx`` or word for it (approximately, approx., about, roughly, around, nearly) with
  nothing before it (``= 5``, ``≈ 3.14``, ``about 5``: the value, whose digits the checker's decimal rule
  judges), and a closing note on the rounding in parentheses (``5 (rounded)``, ``2.24 (to the nearest
  hundredth)``; ``5 (or 6)`` is no note);
- style that changes no value: font, size and colour switches (``{\\bf 7}``, ``\\large 7``,
  ``\\color{red}{7}``), ``\\underline{}``/``\\emph{}`` (their content stays), Markdown bold around the
  whole answer (``**7**``);
- a leading "x =" style assignment is kept: equations are compared by the checker, not stripped here.
"""

from __future__ import annotations

import re

from app.grading.ascii_math import ascii_to_symbols
from app.grading.unicode_math import unicode_to_latex

__all__ = ["UNITS", "has_degree_sign", "normalize", "unwrap_text"]

UNITS: tuple[str, ...] = (
    # length / area / volume
    "mm", "cm", "km", "meter", "meters", "metre", "metres", "inch", "inches", "in.", "ft", "foot", "feet",
    "yd", "yard", "yards", "mile", "miles", "sq", "square", "cubic", "units", "unit", "square units",
    "cubic units", "sq units", "cm2", "cm3", "ml", "mL", "liter", "liters", "litre", "litres", "gallon",
    "gallons", "acre", "acres",
    # mass
    "kg", "mg", "gram", "grams", "lb", "lbs", "pound", "pounds", "oz", "ounce", "ounces", "ton", "tons",
    # time / rate
    "sec", "secs", "second", "seconds", "min", "mins", "minute", "minutes", "hr", "hrs", "hour", "hours",
    "day", "days", "week", "weeks", "month", "months", "year", "years", "mph", "kph", "km/h", "m/s",
    # chemistry (a key's number of moles, grams per mole, kilojoules)
    "mol", "mols", "mole", "moles", "mmol", "kJ", "kcal", "cal", "atm", "kPa",
    # angle
    "degree", "degrees", "deg",
    # money
    "dollar", "dollars", "cent", "cents", "euro", "euros", "USD", "EUR",
)  # fmt: skip

_SPACING = re.compile(
    r"(?<!\\)\\[!,;:> ]|~|\\quad|\\qquad|\\displaystyle|\\left(?=[^a-zA-Z])|\\right(?=[^a-zA-Z])"
)
# Whole tokens only: "foo", "book" and sympy's complex infinity "zoo" keep their letters.
_SYMPY_INFINITY = re.compile(r"(?<![A-Za-z0-9_\\])oo(?![A-Za-z0-9_])")
# "negative infinity", "minus \infty": the sign in words before infinity.
_NEGATIVE_INFINITY = re.compile(r"^\s*(?i:negative|minus)\s+(?=(?i:infinity)$|\\infty$|oo$)")
_COLON = re.compile(r"\s*\\colon(?![A-Za-z])\s*")
# A vector in angle brackets is the tuple of its entries: \langle 1, 2 \rangle is (1, 2).
_ANGLE = re.compile(r"\\(?:langle|rangle)(?![A-Za-z])")
# \text{1011}_2, \mathrm{2A}_{16}, (1011)_2: a base-n number's digits in a wrapper (see `numerals`).
_BASE_DIGITS = re.compile(r"\\(?:text|textrm|mathrm|mbox)\s*\{\s*(\d[0-9A-Z]*)\s*\}(?=\s*_)|\((\d+)\)(?=_)")
_LOG_E = re.compile(r"\\log\s*_\s*(?:e|\{\s*e\s*\})(?![A-Za-z])")
# "= 5" and "≈ 3.14" state the value; "x = 5" keeps its variable.
_LEADING_RELATION = re.compile(
    r"^\s*(?:=|\\approx(?![A-Za-z])|(?i:approximately|approx\.?|about|roughly|around|nearly)\s+(?=[-+$\d.\\(]))\s*"
)
# A closing note on how the value was rounded, bare or in \text{}: "5 (rounded)", "2.24 (to the nearest
# hundredth)"; a note must start with one of these words ("5 (or 6)" is a hedge and stays).
_ROUNDING_NOTE = re.compile(
    r"(?<=[\d)\]}])\s*(?:\\text\s*\{\s*)?\(\s*(?i:rounded|approx(?:\.|imately)?|exact(?:ly)?|estimated?"
    r"|to (?:the nearest|\d+|one|two|three|four) )[A-Za-z .]*\)\s*\}?\s*$"
)
# Font, size and colour switches that change no value: "{\bf 7}", "\large 7", "\color{red}{7}".
_STYLE_SWITCH = re.compile(
    r"\\(?:textstyle|scriptstyle|large|Large|LARGE|huge|Huge|small|normalsize|footnotesize|bf|it|rm|sf|tt"
    r"|boldmath)(?![A-Za-z])\s*|\\color\s*\{[A-Za-z]*\}\s*"
)
_STYLE_WRAP = re.compile(r"\\(?:underline|uline|emph)\s*\{([^{}]*)\}")
_MARKDOWN_BOLD = re.compile(r"^\*\*([^*]+)\*\*$")  # "**7**" around a bare answer
# Whole answers in words, read inside any \text{} (`unwrap_text`): the empty set, a limit that does not exist,
# the real line.
_NO_SOLUTION = re.compile(
    r"^(?:there (?:is|are) )?(?:no (?:real )?(?:solutions?|roots?|zeros?)(?: exists?)?|none)\.?$",
    re.IGNORECASE,
)
_DOES_NOT_EXIST = re.compile(r"^(?:the limit |it )?(?:dne|does not exist)\.?$", re.IGNORECASE)
_ALL_REALS = re.compile(r"^(?:all|any) reals?(?: numbers?)?(?: [a-z])?\.?$", re.IGNORECASE)
_WORD_ANSWERS = ((_NO_SOLUTION, r"\emptyset"), (_DOES_NOT_EXIST, r"\text{DNE}"), (_ALL_REALS, r"\mathbb{R}"))
# ISO's upright constants: \mathrm{i} is the imaginary unit and \mathrm{e} Euler's number, never a unit word.
_UPRIGHT_CONSTANT = re.compile(r"\\(?:text|textrm|mathrm|operatorname|mbox)\s*\{\s*([ie])\s*\}")
# A whole answer that is one wrapper around a number (and maybe its unit): "\text{10}", "\hbox{5}".
_WRAPPED_NUMBER = re.compile(
    r"^\\(?:text|textbf|textit|textrm|textnormal|textsf|mbox|hbox|mathrm|mathbf|mathit|mathsf|boldsymbol|bm)"
    r"\s*\{\s*([-+]?\s*\.?\d[^{}]*?)\s*\}$"
)
_EMPTY_SET = re.compile(r"\\varnothing(?![A-Za-z])|\\\{\s*\\\}")
# An integer, one space, a fraction, between the answer's ends or commas (the item is nothing else).
_MIXED_NUMBER = re.compile(r"(?<![^,])(\s*)(-?)(\d+) (\d+)/(\d+)(\s*)(?![^,])")
_TEXT_WRAP = re.compile(r"\\(?:text|textbf|textit|textrm|mbox|mathrm|mathbf|operatorname)\s*\{([^{}]*)\}")
# A typed "^o" is a degree sign only after a number ("120^o"; "x^o" keeps its exponent).
_DEGREES = re.compile(
    r"\^\s*\{?\s*\\circ\s*\}?|\\circ|°|\\degree|(?<=\d)\s*\^\s*(?:o|\{\s*o\s*\})(?![A-Za-z])"
)
_DEGREE_WORD = re.compile(r"(?<=\d)\s*(?:\\text\s*\{\s*)?deg(?:rees?)?\b", re.IGNORECASE)
# A decimal then an ellipsis ("0.333...", "0.1666\ldots", "0.2727…"): its last digits may be a repetend.
_ELLIPSIS = re.compile(r"^(?P<number>[+-]?\d*\.(?P<digits>\d+))\s*(?:\.{3}|…|\\[lc]?dots\b)$")
_MAX_REPETEND = 6
# Set-builder notation, the whole answer: "\{x \mid x > 2\}", "{x | x > 2}", "\{x \in \mathbb{R} : x > 2\}".
_SET_BUILDER = re.compile(
    r"^\\?\{\s*[A-Za-z]\s*(?:\\in\s*\\mathbb\s*\{?R\}?\s*)?(?:\\mid|\\vert|\||:)\s*(?P<condition>.+?)\s*\\?\}$"
)
# French interval brackets, the whole answer: "]3, +\infty[" is (3, \infty), "[1,3[" is [1,3); or ';'.
_FRENCH_INTERVAL = re.compile(
    r"^(?P<left>[\[\]])\s*(?P<a>[^\[\](){};,]+?)\s*[,;]\s*(?P<b>[^\[\](){};,]+?)\s*(?P<right>[\[\]])$"
)
# "18 dollars and 50 cents", "\$18 and 5 cents": the amount in dollars, 18.50 and 18.05.
_DOLLARS_AND_CENTS = re.compile(
    r"^(?:\\?\$\s*)?(?P<dollars>\d+)\s*(?:dollars?\s+)?and\s+(?P<cents>\d{1,2})\s*cents?$", re.IGNORECASE
)
_CURRENCY = re.compile(r"\\\$|(?<!\\)\$|€|£|¥|¢|\\euro")
# A currency code before the amount ("USD 18", "US$18", "Rs. 250"); after it, the code is a unit (`UNITS`).
_CURRENCY_CODE = re.compile(r"^(-?)\s*(?:USD|US|EUR|GBP|INR|Rs\.?)\s*(?=[\d.])")
_LATEX_THOUSANDS = re.compile(r"(?<=\d)(?:\{,\}|,\\!)\s*(?=\d{3})")
# "12,345" and SI "12 345"; "1, 234" (a comma and a space) is a list of two numbers.
_PLAIN_THOUSANDS = re.compile(r"^-?\s*\d{1,3}(?:(?:,\d{3})+|(?: \d{3})+)(?:\.\d+)?$")
_UNIT_ALT = "|".join(sorted((re.escape(u) for u in UNITS), key=len, reverse=True))
# Any words in \text{} right after a number are a unit, even one letter: "5\text{ m}", "12\text{ apples}".
_TRAILING_TEXT_UNIT = re.compile(
    r"(?<=[\d}])\s*\\(?:text|mbox|mathrm)\s*\{\s*[A-Za-z][A-Za-z .]*\}(?:\s*\^\s*\{?[23]\}?)?\s*$"
)
# Words after a number that change its value or join another ("5 hundred", "5 halves", "5 factorial").
_NOT_COUNTED = (
    r"and|or|plus|minus|times|over|squared|cubed|factorial|percent|dozen|hundred|thousand|million|billion"
    r"|half|halves|thirds?|quarters?|[A-Za-z]+ths?"
)
# "20 apples", "12 red cars": a count with the objects named (GSM8K "The answer is 20 apples.").
_TRAILING_WORDS = re.compile(
    r"^(-?\d[\d,]*(?:\.\d+|/\d+)?)\s+(?!(?:" + _NOT_COUNTED + r")\b)[A-Za-z]{3,}(?:\s+[A-Za-z]{3,})?$"
)
# A rate: a unit (or m, mi, g, L) per a unit (or s, h, L, gal): "km/hr", "ft/s", "miles per hour", "g/mol".
_RATE = rf"(?:{_UNIT_ALT}|mi|m|g|L)\s*(?:/|\s+per\s+)\s*(?:{_UNIT_ALT}|s|h|L|gal)"
_TRAILING_UNIT = re.compile(
    rf"(?<=[\d}}\)\]\s])\s*(?:\\(?:text|mbox|mathrm)\s*\{{\s*(?:{_UNIT_ALT})\s*\}}|{_RATE}|(?:{_UNIT_ALT})\.?)"
    rf"(?:\s*\^\s*\{{?[23]\}}?)?\s*$"
)


def unwrap_text(s: str) -> str:
    """Replace ``\\text{...}``-style wrappers by their content."""
    previous = None
    while previous != s:
        previous, s = s, _TEXT_WRAP.sub(r"\1", s)
    return s


def normalize(answer: str) -> str:
    """The answer as LaTeX, with spacing, separators, currency, degrees and units removed (see module doc)."""
    s = unicode_to_latex(ascii_to_symbols(answer.strip()))
    s = _MARKDOWN_BOLD.sub(r"\1", _STYLE_WRAP.sub(r"\1", _STYLE_SWITCH.sub("", s)))
    s = _LATEX_THOUSANDS.sub("", s)  # before spacing goes: ",\\!" is a separator, ", " a list's comma
    s = _SPACING.sub(lambda m: " " if m.group(0) in ("\\ ", "~", "\\quad", "\\qquad") else "", s)
    s = _COLON.sub(":", s)
    s = _ANGLE.sub(lambda m: "(" if m[0] == "\\langle" else ")", s)
    s = _LOG_E.sub(r"\\ln", s)
    s = _BASE_DIGITS.sub(lambda m: m[1] or m[2], s)
    s = _EMPTY_SET.sub(r"\\emptyset", _SYMPY_INFINITY.sub(r"\\infty", _NEGATIVE_INFINITY.sub("-", s)))
    s = _words_answer(_ROUNDING_NOTE.sub("", _LEADING_RELATION.sub("", s)))
    s = _SET_BUILDER.sub(r"\g<condition>", _FRENCH_INTERVAL.sub(_interval_brackets, s.strip()))
    s = _WRAPPED_NUMBER.sub(r"\1", _UPRIGHT_CONSTANT.sub(r"\1", s))
    s = _DEGREES.sub("", s)
    s = _DOLLARS_AND_CENTS.sub(lambda m: f"{m['dollars']}.{int(m['cents']):02d}", s)
    s = _CURRENCY_CODE.sub(r"\1", _CURRENCY.sub("", s))
    for _ in range(2):  # "5 \text{ cm}^2" and "10 square units" need two passes at most
        stripped = _TRAILING_UNIT.sub("", _TRAILING_TEXT_UNIT.sub("", s)).strip()
        if stripped and stripped != s:
            s = stripped
    s = _TRAILING_WORDS.sub(r"\1", s.strip())
    if _PLAIN_THOUSANDS.match(s):
        s = s.replace(",", "").replace(" ", "")
    s = re.sub(r"\s+", " ", s)
    s = _ELLIPSIS.sub(_repeating_decimal, s.strip())
    s = s.strip().rstrip(".").strip()
    return _MIXED_NUMBER.sub(_mixed_number, s)


def has_degree_sign(answer: str) -> bool:
    """True when `answer` marks degrees (``30^\\circ``, ``30°``, ``30 degrees``); `normalize` removes them."""
    return bool(_DEGREES.search(answer) or _DEGREE_WORD.search(answer))


def _interval_brackets(match: re.Match[str]) -> str:
    """``]1,3[`` as ``(1,3)``: a bracket turned outward opens its end. ``[1,3]`` and ``[1;3]`` stay."""
    left, right = match["left"], match["right"]
    if (left, right) == ("[", "]"):
        return match[0]
    return f"{'(' if left == ']' else '['}{match['a']},{match['b']}{')' if right == '[' else ']'}"


def _repeating_decimal(match: re.Match[str]) -> str:
    """``0.1666...`` as ``0.1\\overline{6}``: the shortest block the digits end with twice or more is the
    repetend; with none (``3.14159...``) the digits written are the decimal."""
    number, digits = match["number"], match["digits"]
    for size in range(1, _MAX_REPETEND + 1):
        block = digits[-size:]
        if len(digits) >= 2 * size and digits.endswith(block * 2):
            fixed = digits
            while fixed.endswith(block):
                fixed = fixed[: -len(block)]
            head = number[: len(number) - len(digits)]
            return rf"{head}{fixed}\overline{{{block}}}"
    return number


def _words_answer(s: str) -> str:
    """``\\emptyset``, ``\\text{DNE}`` or ``\\mathbb{R}`` for a whole answer saying it in words, else `s`."""
    words = unwrap_text(s).strip()
    for pattern, latex in _WORD_ANSWERS:
        if pattern.match(words):
            return latex
    return s


def _mixed_number(match: re.Match[str]) -> str:
    """``2 1/2`` as ``\\frac{5}{2}``; an improper fraction (``2 3/2``) is no mixed number and stays."""
    lead, sign, whole, num, den, trail = match.groups()
    if not int(num) < int(den):
        return match[0]
    return rf"{lead}{sign}\frac{{{int(whole) * int(den) + int(num)}}}{{{den}}}{trail}"
