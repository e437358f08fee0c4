"""Infinite values compare by identity in `symbolic_equal` (oo - oo is nan: the finite rule cannot decide)."""

from __future__ import annotations

import pytest

from app.grading import check
from app.grading.symbolic import parse_math, symbolic_equal


@pytest.mark.parametrize(
    ("reference", "answer", "equivalent"),
    [
        (r"\infty", r"+\infty", True),
        (r"-\infty", r"-(+\infty)", True),
        (r"\infty", r"\infty + 1", True),  # evaluated before the comparison
        (r"\infty", r"\sqrt{\infty}", True),
        (r"\infty", r"\sum_{n=1}^{\infty} \frac{1}{n}", True),  # a divergent series
        (r"\frac{1}{0}", r"\frac{2}{0}", True),  # complex infinity is itself
        (r"\infty", r"-\infty", False),
        (r"\infty", r"\frac{1}{0}", False),  # oo is not zoo
        (r"\infty", r"10^{100}", False),
        (r"-\infty", "0", False),
        (r"\infty", r"\infty - \infty", False),  # nan equals nothing, not even itself
        (r"\infty - \infty", r"\infty - \infty", False),
        (r"0 \cdot \infty", "0", False),
        # finite values with an infinity inside keep the exact rule
        (r"\sum_{n=0}^{\infty} \frac{1}{2^n}", "2", True),
        (r"\sum_{n=0}^{\infty} \frac{1}{2^n}", "3", False),
        (r"\arctan(\infty)", r"\frac{\pi}{2}", True),
    ],
)
def test_symbolic_equal_with_infinities(reference: str, answer: str, equivalent: bool) -> None:
    assert symbolic_equal(parse_math(reference), parse_math(answer)) is equivalent


def test_intervals_with_infinite_ends() -> None:
    assert check(r"(-\infty, 2]", r"(-\infty,2]").equivalent
    assert check(r"[2, \infty)", r"[2,+\infty)").equivalent
    assert check(r"[2, \infty)", "[2, +∞)").equivalent
    assert not check(r"[2, \infty)", r"[2, -\infty)").equivalent
    assert not check(r"(-\infty, 2]", "(-∞, 3]").equivalent
