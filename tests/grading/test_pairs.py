"""The labelled pairs in pairs.jsonl: every homework rule, with the traps named in issue 4."""

from __future__ import annotations

from collections import Counter

import pytest

from app.grading import check
from app.grading.verdict import EQUAL_REASONS, NOT_EQUAL_REASONS

from .conftest import load_pairs

PAIRS = load_pairs()
RULES = {
    "extraction", "no_answer", "integer", "fraction", "decimal", "thousands", "currency", "percent", "units",
    "degrees", "choice", "text", "roots", "tuple", "interval", "set", "matrix", "equation", "assignment",
    "symbolic", "precision", "complex", "strict", "infinity", "unicode", "repeating", "ratio", "base",
    "plus_minus", "words", "scientific", "ascii", "upright", "wrapped_number", "no_solution_words",
    "all_reals", "ellipsis", "approximate", "latex_junk", "fraction_words",
    "letter_case", "set_builder", "alternatives", "negative_words", "root_words", "function_graph",
}  # fmt: skip


def test_the_pair_file_covers_every_rule_with_enough_pairs() -> None:
    assert len(PAIRS) >= 150
    per_rule = Counter(p["rule"] for p in PAIRS)
    assert set(per_rule) >= RULES, RULES - set(per_rule)
    for rule in RULES:
        labels = {p["equivalent"] for p in PAIRS if p["rule"] == rule}
        assert rule == "no_answer" or labels == {True, False}, f"{rule} needs equal and unequal pairs"


@pytest.mark.parametrize(
    "pair", PAIRS, ids=[f"{i}-{p['rule']}-{p['reference']}~{p['answer']}"[:80] for i, p in enumerate(PAIRS)]
)
def test_labelled_pair(pair: dict) -> None:
    verdict = check(pair["reference"], pair["answer"], strict=pair.get("strict", False))
    assert verdict.equivalent is pair["equivalent"], verdict
    assert verdict.reason in (EQUAL_REASONS if pair["equivalent"] else NOT_EQUAL_REASONS)


@pytest.mark.parametrize(
    ("reference", "answer", "equivalent"),
    [
        ("5", "0.05", False),
        ("[1,2]", "[1,2)", False),
        ("1,-2", "-2,1", True),
        ("(1,-2)", "(-2,1)", False),
        (r"\frac{a}{b}", r"\frac{c}{b}", False),
        ("1/2^{99}", "1/2^{98}", False),
        (r"\frac14", "0.25", True),
        (r"10,\!080", "10080", True),
        (r"\text{(C)}", "C", True),
        (r"e^{i\pi}", "-1", True),
    ],
)
def test_issue_traps_are_in_the_pair_file_and_hold(reference: str, answer: str, equivalent: bool) -> None:
    assert any(p["reference"] == reference and p["answer"] == answer for p in PAIRS)
    assert check(reference, answer).equivalent is equivalent


def test_no_answer_is_never_equal_even_to_an_empty_reference() -> None:
    assert check("", "").reason == "no_reference"
    verdict = check("0", "   ")
    assert (verdict.equivalent, verdict.reason) == (False, "no_answer")


def test_strict_mode_only_changes_unsimplified_answers() -> None:
    assert check(r"\frac{1}{2}", "2/4").equivalent
    strict = check(r"\frac{1}{2}", "2/4", strict=True)
    assert (strict.equivalent, strict.reason) == (False, "not_simplified")
    assert check(r"\frac{1}{2}", "2/5", strict=True).reason == "not_equal"


def test_verdict_carries_the_parsed_forms() -> None:
    verdict = check(r"10,\!080", r"The total is \boxed{10{,}080} dollars.")
    assert verdict.equivalent
    assert verdict.reference_parsed == "10080"
    assert verdict.answer_parsed == "10080"
