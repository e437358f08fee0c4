"""The Unicode-to-LaTeX rewrite (`app.grading.unicode_math`) rule by rule, and its place in `normalize`."""

from __future__ import annotations

import pytest

from app.grading.normalize import normalize
from app.grading.unicode_math import unicode_to_latex


@pytest.mark.parametrize(
    ("typed", "latex"),
    [
        # superscripts: one run is one exponent
        ("x²", "x^{2}"),
        ("x²y³", "x^{2}y^{3}"),
        ("(x+1)²", "(x+1)^{2}"),
        ("10⁻³", "10^{-3}"),
        ("10⁻¹²", "10^{-12}"),
        ("x⁻¹", "x^{-1}"),
        ("xⁿ", "x^{n}"),
        ("x^²", "x^{2}"),
        ("90º", "90º"),  # ordinal indicators are no exponents
        ("5™", "5™"),
        # subscripts: one run is one index, and a subscript run next to an exponent run stays apart
        ("x₁", "x_{1}"),
        ("x₁=2, x₂=3", "x_{1}=2, x_{2}=3"),
        ("aₙ₊₁", "a_{n+1}"),
        ("x₁²", "x_{1}^{2}"),
        ("x_₁", "x_{1}"),
        ("xᵢ", "x_{i}"),
        ("x₌", "x₌"),  # a subscript sign that is no index
        # vulgar fractions and mixed numbers
        ("½", r"\frac{1}{2}"),
        ("⅒", r"\frac{1}{10}"),
        ("1½", r"\frac{3}{2}"),
        ("12½", r"\frac{25}{2}"),
        ("1 ½", r"\frac{3}{2}"),
        ("-1½", r"-\frac{3}{2}"),
        ("2·½", r"2\cdot\frac{1}{2}"),  # a product, not a mixed number
        ("(1,½)", r"(1,\frac{1}{2})"),
        ("0.5½", r"0.5\frac{1}{2}"),  # a decimal is never the whole part
        ("x^½", r"x^{\frac{1}{2}}"),
        ("⅟", "⅟"),
        ("2⁄3", "2/3"),
        # roots: a group, else a number, else one letter, else one command
        ("√2", r"\sqrt{2}"),
        ("2√3", r"2\sqrt{3}"),
        ("√12.5", r"\sqrt{12.5}"),
        ("√2x", r"\sqrt{2}x"),
        ("√x+1", r"\sqrt{x}+1"),
        ("√(x+1)", r"\sqrt{x+1}"),
        ("√((x+1)(x-1))", r"\sqrt{(x+1)(x-1)}"),
        ("√ 2", r"\sqrt{2}"),
        ("√-4", r"\sqrt{-4}"),
        ("√π", r"\sqrt{\pi}"),
        ("√½", r"\sqrt{\frac{1}{2}}"),
        ("√√16", r"\sqrt{\sqrt{16}}"),
        ("∛8", r"\sqrt[3]{8}"),
        ("∜16", r"\sqrt[4]{16}"),
        ("e^√2", r"e^{\sqrt{2}}"),
        # symbols
        ("∞", r"\infty"),
        ("(-∞, 2]", r"(-\infty, 2]"),
        ("πr²", r"\pi r^{2}"),
        ("2π", r"2\pi"),
        ("x ≤ 3", r"x \le 3"),
        ("x≥y", r"x\ge y"),
        ("x ≠ 3", r"x \ne 3"),
        ("3·4", r"3\cdot4"),
        ("2×3", r"2\times3"),
        ("6÷2", r"6\div2"),
        ("−3", "-3"),
        # ASCII and other letters are left alone
        (r"\frac{1}{2}", r"\frac{1}{2}"),
        ("Zoë", "Zoë"),
    ],
)
def test_rewrite(typed: str, latex: str) -> None:
    assert unicode_to_latex(typed) == latex


def test_normalize_rewrites_before_stripping_units_and_degrees() -> None:
    assert normalize("5 cm²") == "5"
    assert normalize("45°") == "45"
    assert normalize(" √8 ") == r"\sqrt{8}"
