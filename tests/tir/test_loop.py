"""The loop against real model-server behaviour (replay or scripted server) and the real sandbox."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from app.tir.loop import LoopLimits, estimate_tokens, run_trajectory
from app.tir.model_client import ModelClient, SamplingParams
from app.tir.prompt import TIR_SYSTEM_PROMPT, Conversation
from app.tir.trace import Sample
from sandbox import Sandbox
from tests.conftest import StartReplay
from tests.tir.conftest import Scripted, body, error, piece, sse

LETTERS = "Context check: print the letters a and b, comma-separated, 700 times over, three times."
LETTERS_TRAJECTORY = (
    "".join(
        f"Round {i}.\n```python\nprint(','.join('ab' * 700))\n```\n```output\n(see above)\n```\n"
        for i in (1, 2, 3)
    )
    + "Each line holds $\\boxed{2799}$ characters."
)


async def test_a_context_refusal_after_underestimated_outputs_retries_within_the_servers_room(
    tmp_path: Path, start_replay: StartReplay, sandbox: Sandbox
):
    # "a,b,a,b" is a token per character for this server, about half that by our estimate: after three
    # fed-back outputs the fourth call's prompt + max_tokens pass the 4,096-token context, and the server
    # (as vLLM does) refuses it with 400, saying how long the prompt is.
    traces = tmp_path / "letters.jsonl"
    traces.write_text(json.dumps({"problem": LETTERS, "trajectory": LETTERS_TRAJECTORY}) + "\n")
    replay = start_replay(
        traces, extra=["--context-length", "4096", "--request-log", str(tmp_path / "req.jsonl")]
    )
    async with ModelClient(replay.url, "replay") as client:
        sample = await run_trajectory(
            client, sandbox.session, Conversation(TIR_SYSTEM_PROMPT, LETTERS), SamplingParams(), LoopLimits()
        )
    assert sample.rounds == 3 and all(s.truncated for s in sample.steps if s.type == "output")
    assert sample.finish == "answered" and sample.answer == "2799"
    asked = [json.loads(line)["max_tokens"] for line in (tmp_path / "req.jsonl").read_text().splitlines()]
    assert len(asked) == 5 and asked[4] < asked[3]  # refused, then the room that was left


async def test_no_room_left_ends_the_trajectory_as_length_not_as_an_error(
    scripted: Scripted, sandbox: Sandbox
):
    refusal = (
        "This model's maximum context length is 4096 tokens. However, you requested 5090 tokens "
        "(4090 in the messages, 1000 in the completion). Please reduce the length of the messages."
    )
    scripted.play(error(400, refusal))
    async with ModelClient(scripted.url, "scripted") as client:
        sample = await run_trajectory(
            client,
            sandbox.session,
            Conversation(TIR_SYSTEM_PROMPT, "Long problem."),
            SamplingParams(),
            LoopLimits(),
        )
    assert sample.finish == "length" and sample.answer is None
    assert len(scripted.requests()) == 1  # 6 tokens of room: not worth a call


PY_TAG = "Fence check: what is six times seven?"
PY_TAG_TRAJECTORY = (
    "Let me compute it.\n```py  \nprint(6 * 7)\n```\n```output\n42\n```\nSo the answer is $\\boxed 42$."
)


async def test_a_py_tagged_block_runs_and_an_unbraced_box_answers(
    tmp_path: Path, start_replay: StartReplay, sandbox: Sandbox
):
    traces = tmp_path / "fence.jsonl"
    traces.write_text(json.dumps({"problem": PY_TAG, "trajectory": PY_TAG_TRAJECTORY}) + "\n")
    replay = start_replay(traces)
    async with ModelClient(replay.url, "replay") as client:
        sample = await run_trajectory(
            client, sandbox.session, Conversation(TIR_SYSTEM_PROMPT, PY_TAG), SamplingParams(), LoopLimits()
        )
    assert [s.type for s in sample.steps] == ["text", "code", "output", "text"]
    assert sample.steps[2].content == "42" and sample.steps[2].status == "ok"
    assert sample.finish == "answered" and sample.answer == "42"


HUGE = "Output check: print ten to the power 3000 four times, then say how many digits it has."


async def test_huge_outputs_are_cut_to_leave_the_model_room_to_answer(scripted: Scripted, sandbox: Sandbox):
    # A server that reports no token usage (the loop counts by its own estimate): each output is 1,200
    # digits after the usual cut, a token per digit for Qwen2.5, so three fill ~3,800 of the 4,096 tokens
    # and the fourth, fed back whole, would leave the model no room to answer.
    rounds = [sse(piece(f"Round {i}.\n```python\nprint(10**3000)\n```\n", "stop")) for i in (1, 2, 3, 4)]
    scripted.play(*rounds, sse(piece("It has $\\boxed{3001}$ digits.", "stop")))
    async with ModelClient(scripted.url, "scripted") as client:
        sample = await run_trajectory(
            client, sandbox.session, Conversation(TIR_SYSTEM_PROMPT, HUGE), SamplingParams(), LoopLimits()
        )
    outputs = [s.content for s in sample.steps if s.type == "output"]
    assert len(outputs) == 4 and all(o.startswith("1000") for o in outputs[:3])
    assert len(outputs[3]) < len(outputs[2]) / 4 and "characters omitted" in outputs[3]
    assert sample.finish == "answered" and sample.answer == "3001"
    last = scripted.requests()[-1]
    assert last["max_tokens"] >= 200  # the reply had the reserved room
    assert estimate_tokens(last["prompt"]) + last["max_tokens"] <= 4096


RUN_IT = "```python\nprint(6 * 7)\n```\nLet me run this code to get the result.\n"
FORTY_TWO = "So the answer is $\\boxed{42}$."


def vllm_body(text: str, stop_reason: str | None) -> dict[str, Any]:
    payload = {"choices": [{"index": 0, "text": text, "finish_reason": "stop", "stop_reason": stop_reason}]}
    return {"status": 200, "chunks": [json.dumps(payload)]}


async def solve_with(
    scripted: Scripted, sandbox: Sandbox, *responses: dict[str, Any], stream: bool
) -> Sample:
    scripted.play(*responses)
    async with ModelClient(scripted.url, "scripted", stream=stream) as client:
        return await run_trajectory(
            client, sandbox.session, Conversation(TIR_SYSTEM_PROMPT, "6 * 7?"), SamplingParams(), LoopLimits()
        )


async def test_a_block_followed_by_a_line_of_prose_runs(scripted: Scripted, sandbox: Sandbox):
    # Qwen-Agent's TIR agent runs the last closed block of the new text whatever follows it; servers that
    # report the stop string (vLLM `stop_reason`, SGLang `matched_stop`) and one that says nothing
    vllm = vllm_body(RUN_IT, "```output")
    sglang = sse(piece(RUN_IT), piece("", "stop", matched_stop="```output"))
    for response, stream in ((vllm, False), (sglang, True), (body(RUN_IT), False)):
        answer = sse(piece(FORTY_TWO)) if stream else body(FORTY_TWO)
        sample = await solve_with(scripted, sandbox, response, answer, stream=stream)
        assert sample.rounds == 1 and [s.content for s in sample.steps if s.type == "output"] == ["42"]
        assert sample.finish == "answered" and sample.answer == "42"
        assert sample.text == RUN_IT + "```output\n42\n```\n" + FORTY_TWO


SINGULAR = "```python\nfrom sympy import Matrix\n\nM = Matrix([[1, 2], [2, 4]])\nprint(M.inv())\n```\n"


async def test_a_library_error_goes_back_with_the_models_own_failing_line(
    scripted: Scripted, sandbox: Sandbox
):
    # sympy raises deep inside itself (two chained tracebacks, a dozen frames); the model needs the line
    # of its code that failed and the exception, not sympy's internals or Python 3.11's ^^^ pointers
    sample = await solve_with(
        scripted, sandbox, body(SINGULAR), body("It has no inverse: $\\boxed{0}$."), stream=False
    )
    output = next(s for s in sample.steps if s.type == "output")
    assert output.status == "error"
    frame, source, exception = output.content.splitlines()
    assert re.fullmatch(r'  File "<cell[^"]*>", line 4, in <module>', frame)
    assert source == "    print(M.inv())"
    assert exception == "sympy.matrices.exceptions.NonInvertibleMatrixError: Matrix det == 0; not invertible."


async def test_a_box_inside_code_cut_by_the_token_limit_is_not_an_answer(
    scripted: Scripted, sandbox: Sandbox
):
    cut = 'Let me compute.\n```python\nx = 6 * 7\nprint(f"The answer is \\\\boxed{{{x}}}")\nprint('
    sample = await solve_with(scripted, sandbox, body(cut, "length"), stream=False)
    assert sample.finish == "length" and sample.answer is None  # was answered with "{{x}}"


CRLF = "Let me compute it.\r\n```python\r\nx = 6 * 7\r\nprint(x)\r\n```\r\n"
IN_A_LIST = "1. Compute the product:\n   ```python\n   x = 6 * 7\n   print(x)\n   ```\n"


async def test_blocks_with_windows_line_endings_or_indented_fences_run(scripted: Scripted, sandbox: Sandbox):
    # a server on Windows (or a model trained on such text) ends lines with \r\n; a block inside a list item
    # is indented as a whole: both are closed python blocks (they ended the trajectory without an answer)
    for reply in (CRLF, IN_A_LIST):
        sample = await solve_with(scripted, sandbox, body(reply), body(FORTY_TWO), stream=False)
        assert [s.content for s in sample.steps if s.type == "code"] == ["x = 6 * 7\nprint(x)"]
        assert [(s.status, s.content) for s in sample.steps if s.type == "output"] == [("ok", "42")]
        assert sample.finish == "answered" and sample.answer == "42"


async def test_an_invented_output_is_replaced_by_the_real_run(scripted: Scripted, sandbox: Sandbox):
    # a server ignoring the stop strings sends the model's invented output and an answer built on it;
    # the block runs and the model answers from the real output
    invented = "```python\nprint(6 * 7)\n```\n```output\n41\n```\nSo the answer is $\\boxed{41}$."
    sample = await solve_with(scripted, sandbox, body(invented), body(FORTY_TWO), stream=False)
    assert [s.content for s in sample.steps if s.type == "output"] == ["42"]
    assert sample.answer == "42" and "41" not in sample.text
