"""Streams as real servers write them, byte for byte, through the real client."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from app.tir.errors import ModelBadResponse
from app.tir.model_client import Completion, ModelClient, SamplingParams
from app.tir.prompt import TIR_SYSTEM_PROMPT, Conversation
from tests.tir.conftest import Scripted, piece, sse

CONV = Conversation(TIR_SYSTEM_PROMPT, "What is 2 + 2?")


async def complete(scripted: Scripted, *responses: dict[str, Any], mode: str = "completions") -> Completion:
    scripted.play(*responses)
    async with ModelClient(scripted.url, "scripted", mode=mode, backoff=0.01) as client:  # type: ignore[arg-type]
        return await client.complete(CONV, SamplingParams())


async def test_comments_keep_alives_crlf_event_fields_and_done_without_a_space(scripted: Scripted):
    events = sse(
        ": ping\r\n\r\n",
        "event: message\r\ndata: " + json.dumps(piece("The answer")) + "\r\n\r\n",
        ":keep-alive\n\n",
        piece(" is 4.", "stop"),
        done="data:[DONE]\n\n",
    )
    assert (await complete(scripted, events)).text == "The answer is 4."


async def test_a_stream_without_done_ends_at_its_finish_reason(scripted: Scripted):
    comp = await complete(scripted, sse(piece("x = "), piece("1", "length"), done=None))
    assert comp.text == "x = 1" and comp.finish_reason == "length"


async def test_a_multibyte_character_split_across_network_writes(scripted: Scripted):
    data = (
        "data: " + json.dumps(piece("π ≈ 3.14", "stop"), ensure_ascii=False) + "\n\ndata: [DONE]\n\n"
    ).encode()
    cut = data.index("π".encode()) + 1  # between the two bytes of π
    chunks = [data[:cut].hex(), data[cut:].hex()]
    response = {"status": 200, "headers": {"Content-Type": "text/event-stream"}, "hex": True, "delay": 0.05}
    assert (await complete(scripted, {**response, "chunks": chunks})).text == "π ≈ 3.14"


async def test_a_usage_only_chunk_and_an_empty_choices_list(scripted: Scripted):
    usage = {"choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 3}}
    comp = await complete(scripted, sse(piece("4"), usage, piece("", "stop")))
    assert comp.text == "4" and comp.prompt_tokens == 50 and comp.completion_tokens == 3


async def test_a_connection_reset_mid_stream_is_retried_when_nobody_saw_text(scripted: Scripted):
    reset = sse(piece("The ans"), done=None, abort=True)
    comp = await complete(scripted, reset, sse(piece("The answer is 4.", "stop")))
    assert comp.text == "The answer is 4." and len(scripted.requests()) == 2


async def test_chat_deltas_with_a_role_only_first_chunk_and_null_content(scripted: Scripted):
    first = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]}
    text = {"choices": [{"index": 0, "delta": {"content": "4"}, "finish_reason": None}]}
    end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    assert (await complete(scripted, sse(first, text, end), mode="chat")).text == "4"


async def test_usage_after_a_returned_stop_string_is_still_read(scripted: Scripted):
    # servers that send the stop string back (TGI; vLLM with include_stop_str_in_output) end right after it
    usage = {"choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 9}}
    text = piece("```python\nprint(4)\n```\n```output")
    comp = await complete(scripted, sse(text, piece("", "stop"), usage))
    assert comp.text == "```python\nprint(4)\n```\n" and comp.finish_reason == "stop"
    assert comp.prompt_tokens == 50 and comp.completion_tokens == 9  # were lost: we stopped reading


async def test_a_server_ignoring_the_stop_strings_is_cut_off_soon_after(scripted: Scripted):
    runaway = sse(piece("```python\nprint(4)\n```\n```output\n4\n```\n"), *[piece("more ")] * 40, delay=0.05)
    started = time.monotonic()
    comp = await complete(scripted, runaway)
    assert comp.text == "```python\nprint(4)\n```\n" and time.monotonic() - started < 1.5


async def test_a_null_text_or_null_choice_in_a_completions_stream(scripted: Scripted):
    # a careless server ends with "text": null beside the finish reason, or pads choices with null
    end = {"choices": [{"index": 0, "text": None, "finish_reason": "stop"}]}
    comp = await complete(scripted, sse(piece("4"), {"choices": [None]}, end))
    assert comp.text == "4" and comp.finish_reason == "stop"  # was an AttributeError, not a ModelError


async def test_a_stream_that_stalls_after_its_finish_reason_keeps_its_text(scripted: Scripted):
    # the completion is whole at its finish reason; a server that then neither sends [DONE] nor closes
    # (a proxy holding the connection) must not turn it into a read timeout and lose the text
    stalled = sse(piece("The answer is 4.", "stop"), ": still here\n\n", done=None, delay=3)
    scripted.play(stalled)
    async with ModelClient(scripted.url, "scripted", read_timeout=1) as client:
        comp = await client.complete(CONV, SamplingParams())
    assert comp.text == "The answer is 4." and comp.finish_reason == "stop"


async def test_a_body_whose_text_is_not_a_string_is_a_bad_response(scripted: Scripted):
    listed = {"choices": [{"text": ["4"], "finish_reason": "stop"}]}
    scripted.play({"status": 200, "chunks": [json.dumps(listed)]})
    async with ModelClient(scripted.url, "scripted", stream=False) as client:
        with pytest.raises(ModelBadResponse, match="malformed"):  # was a TypeError, an untyped failure
            await client.complete(CONV, SamplingParams())
