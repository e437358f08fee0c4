"""/solve against a real OpenAI-compatible server: llama.cpp's llama-server with SmolLM2-135M-Instruct.

The model is far too small to solve math; these tests check the protocol our service speaks, in both API
modes: stop strings, continuation of the assistant turn, usage counts, seeds, and prompt-cache reuse across
rounds.
"""

from __future__ import annotations

import httpx
import pytest

from app.tir.model_client import ModelClient, SamplingParams
from app.tir.prompt import TIR_SYSTEM_PROMPT, Conversation, render_chatml
from tests.deploy.llama import MODEL_ALIAS, LlamaServer

pytestmark = pytest.mark.llama

PROBLEM = "What is 2+3? Write a short Python program that prints the answer."
FINISHES = {"answered", "max_rounds", "length", "stop_no_answer"}


@pytest.fixture(scope="module", params=["completions", "chat"])
def llama_service(request, start_service, llama: LlamaServer):
    return start_service(llama.url, api_mode=request.param, model_name=MODEL_ALIAS, request_deadline_s=240)


def _solve(service, **body) -> dict:
    body = {"problem": PROBLEM, "max_tokens": 96, "temperature": 0.0, "seed": 1, **body}
    response = httpx.post(f"{service.url}/solve", json=body, timeout=300)
    assert response.status_code == 200, response.text
    return response.json()


def test_solve_speaks_the_protocol(llama_service) -> None:
    result = _solve(llama_service, max_rounds=1)
    sample = result["samples"][0]
    assert result["model"] == MODEL_ALIAS
    assert sample["finish"] in FINISHES, sample
    usage = sample["usage"]
    # The template, system prompt and problem are ~50 tokens for SmolLM2's tokenizer.
    assert usage["prompt_tokens"] > 30 and 0 < usage["completion_tokens"] <= 96 * 2
    assert usage["calls"] >= 1
    prose = [s["content"] for s in sample["steps"] if s["type"] == "text"]
    assert prose and any(p.strip() for p in prose)
    # The stop string is never part of the model's own text, whether or not the server sent it back.
    assert all("```output" not in p for p in prose)
    assert result["timing_ms"]["llm"] > 0


def test_same_seed_same_trajectory_other_seeds_differ(llama_service) -> None:
    first = _solve(llama_service, temperature=1.0, seed=11, max_rounds=0, max_tokens=32)
    again = _solve(llama_service, temperature=1.0, seed=11, max_rounds=0, max_tokens=32)
    steps = first["samples"][0]["steps"]
    assert steps == again["samples"][0]["steps"]
    others = [
        _solve(llama_service, temperature=1.0, seed=s, max_rounds=0, max_tokens=32)["samples"][0]["steps"]
        for s in (12, 13)
    ]
    assert any(o != steps for o in others)


async def test_continuation_and_stop_string_in_both_modes(llama: LlamaServer) -> None:
    """A prefilled assistant turn is continued, not restarted, and generation stops at ```output."""
    prefill = "```python\nprint(2 + 3)\n```\n```output\n5\n```\n" * 3 + "```python\nprint(2 + 3)\n```\n"
    conv = Conversation(TIR_SYSTEM_PROMPT, "Print 2 + 3 four times.", prefill)
    params = SamplingParams(temperature=0.0, max_tokens=48, seed=1)
    for mode in ("completions", "chat"):
        async with ModelClient(llama.url, MODEL_ALIAS, mode=mode) as client:
            done = await client.complete(conv, params)
        # The pattern repeats, so the model's next words are the output fence: cut there, finish "stop".
        assert "```output" not in done.text, (mode, done.text)
        assert done.finish_reason == "stop", (mode, done)
        # Continued, not restarted: the echo of the prefill that llama-server adds in chat mode is removed.
        assert not done.text.startswith("```python\nprint(2 + 3)"), (mode, done.text)
        assert done.prompt_tokens and done.prompt_tokens > 60


async def test_round_two_reuses_round_one_prompt_cache(llama: LlamaServer) -> None:
    """Each round's prompt is the last one plus new text, byte for byte, so the server's cache hits."""
    conv = Conversation(TIR_SYSTEM_PROMPT, PROBLEM + " (cache test)")
    params = SamplingParams(temperature=0.0, max_tokens=48, seed=1)
    async with ModelClient(llama.url, MODEL_ALIAS, mode="completions") as client:
        first = await client.complete(conv, params)
        grown = conv.extended(first.text + "```output\n5\n```\n")
        assert render_chatml(grown).startswith(render_chatml(conv) + first.text)
        second = await client.complete(grown, params)
    assert first.prompt_tokens and second.prompt_tokens
    assert second.cached_tokens is not None
    # Everything of round 1 (prompt and generated text) is served from the cache in round 2.
    share = second.cached_tokens / second.prompt_tokens
    assert second.cached_tokens >= first.prompt_tokens, (first, second)
    assert share > 0.8, (first, second)
