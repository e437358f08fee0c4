"""Hostile answers (huge, deeply nested, thousands of digits) get a verdict in bounded time from the real
worker pool: a clear `parse_error` for what cannot be read, never an `error` from a crash."""

from __future__ import annotations

import asyncio

import pytest

from app.grading import CheckerPool, check

HOSTILE = [
    "5" * 5000,  # past Python's 4,300-digit int conversion limit (was 'error: ValueError')
    "5." + "0" * 5000,
    "\\sqrt{" * 400 + "5" + "}" * 400,
    "(" * 3000 + "5" + ")" * 3000,
    "\\frac{" * 300 + "1" + "}{2}" * 300,
    "x^" * 2000 + "2",
    "{" * 11 + "5" + "}" * 11,  # short, but math-verify's time grows steeply with each brace (was a timeout)
]


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("answer", HOSTILE, ids=[f"{a[:12]}..{len(a)}" for a in HOSTILE])
async def test_a_hostile_answer_is_unreadable_not_a_crash(pool: CheckerPool, answer: str) -> None:
    verdict = await asyncio.wait_for(pool.check("5", answer), timeout=10)
    assert not verdict.equivalent
    assert verdict.reason in ("parse_error", "not_equal"), verdict


def test_an_answer_too_long_to_parse_says_so() -> None:
    verdict = check("5", "5" * 5000)
    assert (verdict.equivalent, verdict.reason) == (False, "parse_error"), verdict
    assert "too long" in verdict.message


def test_real_nesting_still_parses() -> None:
    assert check(r"\frac{\sqrt{3}}{2}", r"\left(\frac{\sqrt{\frac{3}{4}}}{1}\right)").equivalent
