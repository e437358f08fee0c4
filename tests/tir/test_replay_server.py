"""The replay model server as its own process, driven by our real model client over loopback."""

from __future__ import annotations

import json

import httpx
import pytest

from app.tir.model_client import ModelClient, SamplingParams
from app.tir.prompt import TIR_SYSTEM_PROMPT, Conversation
from app.tir.replay import ReplayBook, segments
from tests.conftest import SHARED_DATA, TEST_TRAJECTORIES

TORA = SHARED_DATA / "traces" / "tora-code-34b_gsm8k.jsonl"
FIX_PROBLEM = "What is the sum of the squares of the first 10 positive integers?"


def test_segments_split_at_output_blocks():
    traj = "A\n```python\nprint(1)\n```\n```output\n1\n```\nB\n```python\nprint(2)\n```\n```output\n2\n```\nC"
    assert segments(traj) == ["A\n```python\nprint(1)\n```\n", "B\n```python\nprint(2)\n```\n", "C"]


def test_book_reads_all_three_record_shapes(tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"question": "Q1?", "code": ["one \\boxed{1}"]},
                {"problem": "Q2?", "trajectory": "two \\boxed{2}"},
                {"messages": [{"role": "user", "content": "Q3?"}, {"role": "assistant", "content": "3"}]},
            ]
        )
    )
    book = ReplayBook.from_files([f])
    assert len(book) == 3
    from app.tir.replay import ReplayTurn

    assert book.next_segment(ReplayTurn("Q2?", "")) == "two \\boxed{2}"
    assert book.next_segment(ReplayTurn("Please solve: Q3? Thanks", "")) == "3"  # question inside prompt
    assert book.next_segment(ReplayTurn("unknown", "")) is None


@pytest.mark.parametrize("mode", ["completions", "chat"])
@pytest.mark.parametrize("stream", [True, False])
async def test_multi_round_replay_through_client(replay, mode, stream):
    deltas: list[str] = []

    async def on_delta(piece: str) -> None:
        deltas.append(piece)

    async with ModelClient(replay.url, "replay", mode=mode, stream=stream) as client:
        conv = Conversation(TIR_SYSTEM_PROMPT, FIX_PROBLEM)
        first = await client.complete(conv, SamplingParams(max_tokens=500), on_delta)
        assert first.text.endswith("print(total)\n```\n") and "```output" not in first.text
        assert "".join(deltas) == first.text
        assert first.prompt_tokens and first.completion_tokens and first.finish_reason == "stop"
        conv = conv.extended(first.text + "```output\nSyntaxError\n```\n")
        second = await client.complete(conv, SamplingParams(max_tokens=500))
        assert second.text.startswith("The parenthesis was not closed.")
        assert second.prompt_tokens > first.prompt_tokens


async def test_max_tokens_cut_reports_length(replay):
    async with ModelClient(replay.url, "replay", stream=False) as client:
        comp = await client.complete(
            Conversation(TIR_SYSTEM_PROMPT, FIX_PROBLEM), SamplingParams(max_tokens=5)
        )
    assert comp.finish_reason == "length" and comp.completion_tokens == 5


async def test_context_length_refused_like_vllm(replay):
    async with httpx.AsyncClient(base_url=replay.url) as http:
        r = await http.post("/completions", json={"prompt": FIX_PROBLEM, "max_tokens": 5000})
    assert r.status_code == 400 and "maximum context length is 4096" in r.json()["error"]["message"]


async def test_chat_prefill_echo_and_returned_stop_strings_are_handled(start_replay):
    odd = start_replay(TEST_TRAJECTORIES, extra=["--echo-prefill", "--return-stop"])
    for stream in (True, False):
        async with ModelClient(odd.url, "replay", mode="chat", stream=stream) as client:
            conv = Conversation(TIR_SYSTEM_PROMPT, FIX_PROBLEM)
            first = await client.complete(conv, SamplingParams(max_tokens=500))
            assert first.text.endswith("```\n") and "```output" not in first.text
            conv = conv.extended(first.text + "```output\nSyntaxError\n```\n")
            second = await client.complete(conv, SamplingParams(max_tokens=500))
            assert second.text.startswith("The parenthesis")  # the echoed prefill was stripped


async def test_tora_gsm8k_trajectories_replay(start_replay):
    tora = start_replay(TORA)
    async with ModelClient(tora.url, "replay") as client:
        assert await client.list_models() == ["replay"]
        q = (
            "A robe takes 2 bolts of blue fiber and half that much white fiber.  "
            "How many bolts in total does it take?"
        )
        comp = await client.complete(Conversation(TIR_SYSTEM_PROMPT, q), SamplingParams())
    assert comp.text.startswith("```python\ndef total_bolts():") and comp.text.endswith("```\n")
