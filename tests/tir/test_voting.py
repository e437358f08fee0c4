import pytest

from app.tir.voting import normalize_answer, normalized_equivalent, vote


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (r"\frac{1}{2}", "0.5"),
        (r"\dfrac{3}{4}", "3/4"),
        ("10,080", "10080"),
        (r"18\%", "18"),
        (r"\$18.00", "18"),
        (r"2\sqrt{2}", r"\sqrt{8}"),
        (r"\text{undefined}", r"\text{undefined}"),
        ("3.0", "3"),
    ],
)
async def test_equivalent_forms(a, b):
    assert await normalized_equivalent(a, b)


@pytest.mark.parametrize(("a", "b"), [("1/3", "0.33"), ("2", "3"), (r"\sqrt{2}", "1.41"), ("(1,2)", "(2,1)")])
async def test_different_answers(a, b):
    assert not await normalized_equivalent(a, b)


async def test_huge_powers_are_not_evaluated():
    # would hang sympy if evaluated; the whitelist refuses it and falls back to string comparison
    assert not await normalized_equivalent("9^{9^{9^{9}}}", "1")


def test_normalize_strips_latex_noise():
    assert normalize_answer(r"\left( 1,\! 2 \right)") == "(1,2)"


async def test_vote_majority_share_and_ties():
    out = await vote([r"\frac{1}{2}", "0.5", "3", None])
    assert out.answer == r"\frac{1}{2}"
    assert out.confidence == pytest.approx(0.5)
    assert [(v.answer, v.count) for v in out.votes] == [(r"\frac{1}{2}", 2), ("3", 1)]
    tie = await vote(["7", "8"])
    assert tie.answer == "7" and tie.confidence == 0.5


async def test_vote_with_injected_equivalence_and_no_answers():
    async def same_parity(a: str, b: str) -> bool:
        return int(a) % 2 == int(b) % 2

    out = await vote(["1", "3", "4"], same_parity)
    assert out.answer == "1" and out.votes[0].count == 2
    empty = await vote([None, None])
    assert empty.answer is None and empty.confidence == 0.0 and empty.votes == []


@pytest.mark.parametrize(
    ("a", "b"),
    [(r"\text{(A)}", r"\text{(B)}"), (r"\text{Yes}", r"\text{No}"), (r"\text{even}", r"\mathrm{odd}")],
)
async def test_answers_written_only_in_text_are_not_all_equal(a, b):
    # units after a number are dropped ("5\text{ cm}" is 5); a word answer is the answer itself
    assert not await normalized_equivalent(a, b)


async def test_a_vote_between_multiple_choice_letters_counts_each_letter():
    out = await vote([r"\text{(A)}", r"\text{(B)}", r"\text{(B)}"])
    assert out.answer == r"\text{(B)}" and out.confidence == pytest.approx(2 / 3)


async def test_an_answer_given_as_a_short_variable_assignment_votes_with_its_value():
    # the Qwen2.5-Math evaluation reads "x = 5" as 5 (a left side of at most two characters)
    out = await vote(["x = 5", "5", r"k=\frac{1}{2}", "5"])
    assert out.answer == "x = 5" and out.votes[0].count == 3
    assert not await normalized_equivalent("x + y = 5", "5")


async def test_a_choice_letter_votes_the_same_however_it_is_dressed():
    out = await vote([r"\text{(C)}", "C", r"\textbf{(C)}", "(C)", r"\text{(D)}"])
    assert out.answer == r"\text{(C)}" and out.votes[0].count == 4 and out.confidence == pytest.approx(0.8)


async def test_the_same_answer_votes_together_when_the_injected_checker_fails():
    # the grading checker answers False on a timeout or when no worker is free: "8" and "8" must still
    # be one group, or a lone "7" wins at confidence 1/3
    async def checker_down(a: str, b: str) -> bool:
        return False

    out = await vote(["7", "8", r"8\,", "8.", None], checker_down)
    assert out.answer == "8" and [(v.answer, v.count) for v in out.votes] == [("8", 3), ("7", 1)]
    assert out.confidence == pytest.approx(0.6)
