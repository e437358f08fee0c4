"""Real data: MATH-500 answers against their worked solutions, and against the next record's answer."""

from __future__ import annotations

import itertools
import json

import pytest

from app.grading import check

from .conftest import MATH500

pytestmark = pytest.mark.skipif(not MATH500.exists(), reason="../shared/data is not present")

# Adjacent records whose answers really are equal (checked by hand): index i compares records i and i+1.
REALLY_EQUAL_NEIGHBOURS = {
    22: ("5", "x=5"),  # test/algebra/1837 and test/algebra/2193: x=5 states the value 5
    186: ("7", "7"),  # test/number_theory/978 and test/algebra/2199
    403: ("3", "3"),  # test/number_theory/928 and test/counting_and_probability/761
}


def _records() -> list[dict]:
    return [json.loads(line) for line in MATH500.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_every_answer_equals_its_own_worked_solution() -> None:
    records = _records()
    assert len(records) == 500
    failures = [(r["unique_id"], r["answer"], check(r["answer"], r["solution"])) for r in records]
    failures = [f for f in failures if not f[2].equivalent]
    assert failures == [], f"{500 - len(failures)}/500 equal; first failures: {failures[:5]}"


@pytest.mark.slow
def test_each_answer_differs_from_the_next_record_except_real_equalities() -> None:
    records = _records()
    equal = {}
    for i, (a, b) in enumerate(itertools.pairwise(records)):
        if check(a["answer"], b["answer"]).equivalent:
            equal[i] = (a["answer"], b["answer"])
    assert equal == REALLY_EQUAL_NEIGHBOURS


GSM8K = MATH500.with_name("gsm8k_test.jsonl")


def test_gsm8k_final_numbers_equal_their_worked_solutions() -> None:
    records = [json.loads(line) for line in GSM8K.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(records) == 1319
    failures = []
    for r in records:
        gold = r["answer"].split("####")[-1].strip()
        if not check(gold, r["answer"]).equivalent:  # the "####" marker is the extraction rule under test
            failures.append(gold)
    assert failures == []
