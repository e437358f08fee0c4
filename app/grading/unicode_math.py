"""Unicode math that students type (phones, keyboards, copy-paste), rewritten as the LaTeX the checker parses.

`normalize` applies this first, to the reference and the answer alike. Text that is all ASCII is unchanged.
The rules, in the order they are applied:
1. superscripts and subscripts: a run of characters that Unicode decomposes as ``<super>`` (digits, ``⁺``,
   ``⁻``, ``⁽``, ``⁾``, letters such as ``ⁿ``) is one exponent: ``x²`` -> ``x^{2}``, ``10⁻¹²`` ->
   ``10^{-12}``, ``x⁻¹`` -> ``x^{-1}``; a run decomposed as ``<sub>`` (``₀``-``₉``, ``₊``, ``₋``, ``₍``,
   ``₎``, letters such as ``ₐ``, ``ₓ``, ``ᵢ``) is one subscript: ``x₁`` -> ``x_{1}``, ``aₙ₊₁`` ->
   ``a_{n+1}``. The ordinal indicators ``ª`` and ``º`` are no exponents and stay as they are;
2. vulgar fractions (Unicode ``<fraction>`` decomposition: ``½``, ``¾``, ``⅓``, ``⅒``, ...) ->
   ``\\frac{1}{2}``. Right after an integer, optionally a space apart, they make a mixed number, never a
   product: ``1½`` and ``1 ½`` -> ``\\frac{3}{2}``, ``-1½`` -> ``-\\frac{3}{2}`` (``2·½`` stays a product);
3. roots ``√``, ``∛``, ``∜`` -> ``\\sqrt{}``, ``\\sqrt[3]{}``, ``\\sqrt[4]{}`` over the radicand that
   follows: a parenthesised or braced group (``√(x+1)`` -> ``\\sqrt{x+1}``), else a number (``√2x`` ->
   ``\\sqrt{2}x``), else one letter (``√x+1`` -> ``\\sqrt{x}+1``), else one LaTeX command with its
   arguments (``√½`` -> ``\\sqrt{\\frac{1}{2}}``); a minus right after the sign belongs to the radicand
   (``√-4`` -> ``\\sqrt{-4}``);
4. symbols: ``∞`` -> ``\\infty``, ``π`` -> ``\\pi``, ``≤``/``⩽`` -> ``\\le``, ``≥``/``⩾`` -> ``\\ge``,
   ``≠`` -> ``\\ne``, ``≈`` -> ``\\approx``, ``·``/``⋅``/``∙`` -> ``\\cdot`` (the middle dot is
   multiplication, not a decimal point: ``3·4`` is 12), ``×`` -> ``\\times``, ``÷`` -> ``\\div``, the minus
   sign U+2212 -> ``-`` (and an en dash used as a sign: ``–5``, ``(–2, 3)``; ``2–3`` stays), the fraction
   slash ``⁄`` -> ``/``.
A fraction or root written as an exponent or subscript is braced (``e^√2`` -> ``e^{\\sqrt{2}}``).
"""

from __future__ import annotations

import functools
import re
import unicodedata

__all__ = ["unicode_to_latex"]

_MINUS = "\u2212"
_FRACTION_SLASH = "\u2044"
# An en dash as a sign (a word processor's "-5"): at the start or after a bracket, comma, "=" or a space,
# before a value ("–5", "(–2, 3)"); between two values ("2–3", a range) it stays.
_EN_DASH_SIGN = re.compile(r"(?<![^(\[,=\s])\u2013(?=\s*[\w.\\])")
_SYMBOLS = {
    "∞": r"\infty", "π": r"\pi", "≤": r"\le", "⩽": r"\le", "≥": r"\ge", "⩾": r"\ge", "≠": r"\ne",
    "≈": r"\approx", "·": r"\cdot", "⋅": r"\cdot", "∙": r"\cdot", "×": r"\times", "÷": r"\div",
    _MINUS: "-", _FRACTION_SLASH: "/",
}  # fmt: skip
_SYMBOL = re.compile("[" + "".join(_SYMBOLS) + "]")
_ROOTS = {"√": r"\sqrt", "∛": r"\sqrt[3]", "∜": r"\sqrt[4]"}
# An integer and a non-ASCII character (the vulgar fraction candidate); the integer is not part of a decimal.
_MIXED = re.compile(r"(?:(?<![\d.])(\d+)[^\S\n]*)?([^\x00-\x7f])")
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)")
_LETTER = re.compile(r"-?(?:[^\W\d_]|∞)")
_COMMAND = re.compile(r"\\[A-Za-z]+")
_CLOSING = {"(": ")", "{": "}", "[": "]"}
# The decomposition tag of a script character, and the LaTeX that introduces it.
_SCRIPT_MARKERS = {"<super>": "^", "<sub>": "_"}


def unicode_to_latex(text: str) -> str:
    """`text` with Unicode super/subscripts, vulgar fractions, roots and symbols as LaTeX (module doc)."""
    if text.isascii():
        return text
    text = _EN_DASH_SIGN.sub("-", _scripts(text))
    text = _MIXED.sub(_vulgar_fraction, text)
    text = _roots(text)
    return _SYMBOL.sub(_symbol, text)


@functools.cache
def _script(ch: str) -> tuple[str, str] | None:
    """(``^`` or ``_``, the plain character) of a superscript or subscript (``²`` -> ``("^", "2")``,
    ``₋`` -> ``("_", "-")``), or None."""
    marker = _SCRIPT_MARKERS.get(unicodedata.decomposition(ch).partition(" ")[0])
    if marker is None or unicodedata.category(ch) == "Lo":
        return None  # category Lo: the ordinal indicators ª and º
    plain = unicodedata.normalize("NFKC", ch).replace(_MINUS, "-")
    if len(plain) == 1 and ((plain.isascii() and plain.isalnum()) or plain in "+-()"):
        return marker, plain
    return None  # ™, ⁼, ₌, Greek subscripts and the like are no exponents or indices


def _scripts(text: str) -> str:
    out: list[str] = []
    run: list[str] = []
    marker = ""
    for ch in text + "\n":  # the sentinel ends a final run
        script = _script(ch)
        if script is not None and (not run or script[0] == marker):
            marker = script[0]
            run.append(script[1])
            continue
        if run:
            group = "{" + "".join(run) + "}"
            # x^² was typed with its own caret: one marker, not two
            out.append(group if out and out[-1].endswith(marker) else marker + group)
            run = []
        if script is not None:  # x₁² : a subscript run right before an exponent run
            marker, run = script[0], [script[1]]
            continue
        out.append(ch)
    return "".join(out)[:-1]


@functools.cache
def _vulgar(ch: str) -> tuple[int, int] | None:
    """(numerator, denominator) of a vulgar fraction character (``¾`` -> (3, 4)), or None."""
    if not unicodedata.decomposition(ch).startswith("<fraction>"):
        return None
    num, _, den = unicodedata.normalize("NFKC", ch).partition(_FRACTION_SLASH)
    if not (num.isascii() and num.isdigit() and den.isascii() and den.isdigit()) or int(den) == 0:
        return None  # ⅟ (a numerator alone)
    return int(num), int(den)


def _vulgar_fraction(match: re.Match[str]) -> str:
    fraction = _vulgar(match[2])
    if fraction is None:
        return match[0]
    num, den = fraction
    if match[1] is not None:  # a mixed number: 1½ is 3/2
        num += int(match[1]) * den
    latex = rf"\frac{{{num}}}{{{den}}}"
    return "{" + latex + "}" if match.string[: match.start()].endswith(("^", "_")) else latex


def _roots(text: str) -> str:
    # From the last root sign to the first, so an inner root is already LaTeX when the outer one reads it.
    for at in reversed([i for i, ch in enumerate(text) if ch in _ROOTS]):
        start = at + 1
        while text[start : start + 1] in (" ", "\t"):
            start += 1
        end = _radicand_end(text, start)
        root = _ROOTS[text[at]]
        if end is None:
            latex, end = root + " ", start
        else:
            radicand = text[start:end]
            if radicand[0] in "({" and _matching(radicand, 0) == len(radicand) - 1:
                radicand = radicand[1:-1]
            latex = f"{root}{{{radicand}}}"
        if text[:at].endswith(("^", "_")):
            latex = "{" + latex + "}"
        text = text[:at] + latex + text[end:]
    return text


def _radicand_end(text: str, start: int) -> int | None:
    """Where the radicand starting at `start` ends (exclusive), or None when there is none."""
    if start >= len(text):
        return None
    if text[start] in "({":
        close = _matching(text, start)
        return None if close is None else close + 1
    for pattern in (_NUMBER, _LETTER):
        if m := pattern.match(text, start):
            return m.end()
    if m := _COMMAND.match(text, start):
        end = m.end()
        while text[end : end + 1] in ("{", "["):  # \frac{1}{2}, \sqrt[3]{8}
            close = _matching(text, end)
            if close is None:
                break
            end = close + 1
        return end
    return None


def _matching(text: str, start: int) -> int | None:
    """The index of the bracket closing the one at `start` (same kind, nesting counted), or None."""
    opening, closing = text[start], _CLOSING[text[start]]
    depth = 0
    for i in range(start, len(text)):
        if text[i] == opening:
            depth += 1
        elif text[i] == closing:
            depth -= 1
            if depth == 0:
                return i
    return None


def _symbol(match: re.Match[str]) -> str:
    latex = _SYMBOLS[match[0]]
    following = match.string[match.end() : match.end() + 1]
    # A command needs a space before a letter: πr is \pi r, not the unknown command \pir.
    if latex[-1].isalpha() and following.isascii() and following.isalpha():
        return latex + " "
    return latex
