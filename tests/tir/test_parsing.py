from app.tir.parsing import (
    find_trailing_code_block,
    last_boxed,
    prose_before_open_code,
    split_segments,
    strip_output_blocks,
)


def test_last_boxed_handles_nested_braces_and_takes_the_last():
    text = r"First $\boxed{1}$, then $\boxed{\frac{\sqrt{2}}{3}}$ and done."
    assert last_boxed(text) == r"\frac{\sqrt{2}}{3}"


def test_last_boxed_ignores_unclosed_and_absent():
    assert last_boxed(r"so \boxed{\frac{1}{2}") is None
    assert last_boxed("no answer here") is None
    assert last_boxed(r"\boxed{a \{ b \}}") == r"a \{ b \}"


def test_answer_inside_output_block_is_not_model_prose():
    text = "```python\nprint(1)\n```\n```output\n\\boxed{99}\n```\nThe program printed it."
    assert last_boxed(strip_output_blocks(text)) is None


def test_trailing_code_block_only_when_nothing_follows():
    text = "Let me compute.\n```python\nx = 1\nprint(x)\n```\n"
    block = find_trailing_code_block(text)
    assert block is not None and block.code == "x = 1\nprint(x)"
    assert find_trailing_code_block(text + "So x is one.") is None
    assert find_trailing_code_block("```python\nx = 1\n") is None  # never closed


def test_split_segments_keeps_order_and_drops_blank_prose():
    text = "Intro.\n```python\na = 2\n```\nMiddle.\n```python\nprint(a)\n```\n"
    segs = split_segments(text)
    assert [s.type for s in segs] == ["text", "code", "text", "code"]
    assert segs[1].content == "a = 2" and segs[3].content == "print(a)"
    assert segs[0].content == "Intro.\n"


def test_other_python_fence_tags_open_runnable_blocks():
    for tag in ("py", "Python", "python3", "PY"):
        block = find_trailing_code_block(f"Compute.\n```{tag}  \nprint(6 * 7)\n```  \n")
        assert block is not None and block.code == "print(6 * 7)", tag
    assert find_trailing_code_block("```pycon\n>>> 1\n```\n") is None
    assert find_trailing_code_block("```output\n42\n```\n") is None


def test_boxed_without_braces_and_empty_boxes():
    assert last_boxed(r"The answer is $\boxed 18$ dollars.") == "18"
    assert last_boxed(r"so \boxed 42.") == "42"
    assert last_boxed(r"It is $\boxed{3}$. (I put the final answer within \boxed{}.)") == "3"
    assert last_boxed(r"Put the final answer within \boxed{ }.") is None
    assert last_boxed("the answer \\boxed\nis unclear") is None
    assert last_boxed(r"It is $\boxed{4}$, written in \boxed notation.") == "4"  # a word is prose
    assert last_boxed(r"\boxed -3.") == "-3" and last_boxed(r"\boxed A") == "A"


def test_prose_before_open_code_drops_a_block_the_token_limit_cut():
    assert prose_before_open_code("So \\boxed{1}.\n```python\nprint('\\\\boxed{2}')") == "So \\boxed{1}.\n"
    assert prose_before_open_code("No code here.") == "No code here."
