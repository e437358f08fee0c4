"""What real model servers send when things go wrong, played byte for byte by the scripted server.

The error bodies are the ones vLLM, SGLang and llama.cpp's server write (copied from their sources' formats);
the client under test is the real `ModelClient` over loopback.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time

import pytest

from app.tir.errors import ModelContextExceeded, ModelRejected, ModelServerError
from app.tir.model_client import ModelClient, SamplingParams
from app.tir.prompt import TIR_SYSTEM_PROMPT, Conversation
from tests.tir.conftest import Scripted, body, error, piece, sse

CONV = Conversation(TIR_SYSTEM_PROMPT, "What is 2 + 2?")
ANSWER = "So the answer is $\\boxed{4}$."


def client(scripted: Scripted, **kw: object) -> ModelClient:
    return ModelClient(scripted.url, "scripted", backoff=0.01, **kw)  # type: ignore[arg-type]


# vLLM: an engine failure after the 200 header becomes one error event, then [DONE]
VLLM_STREAM_ERROR = {
    "error": {"object": "error", "message": "CUDA error: an illegal memory access", "code": 500}
}


async def test_error_event_inside_a_200_stream_is_retried_not_taken_as_the_end(scripted: Scripted):
    scripted.play(sse(piece("So the answer"), VLLM_STREAM_ERROR), sse(piece(ANSWER), piece("", "stop")))
    async with client(scripted) as c:
        comp = await c.complete(CONV, SamplingParams())
    assert comp.text == ANSWER  # not "So the answer", a stop with no answer
    assert len(scripted.requests()) == 2


async def test_error_event_after_text_was_shown_is_a_typed_failure(scripted: Scripted):
    scripted.play(sse(piece("So the answer"), VLLM_STREAM_ERROR))
    shown: list[str] = []

    async def sink(delta: str) -> None:
        shown.append(delta)

    async with client(scripted) as c:
        with pytest.raises(ModelServerError, match="illegal memory access"):
            await c.complete(CONV, SamplingParams(), sink)
    assert shown and len(scripted.requests()) == 1  # the reader saw text: a retry would repeat it


async def test_error_body_with_status_200_is_a_failure(scripted: Scripted):
    # vLLM's bare error object; a 4xx code inside it is final, like the status would be
    bare = {"object": "error", "message": "seed must be an integer", "type": "BadRequestError", "code": 400}
    scripted.play({"status": 200, "chunks": [json.dumps(bare)]})
    async with client(scripted, stream=False) as c:
        with pytest.raises(ModelRejected, match="seed must be an integer"):
            await c.complete(CONV, SamplingParams())
    assert len(scripted.requests()) == 1


VLLM_OLD = (
    "This model's maximum context length is 4096 tokens. However, you requested 4210 tokens "
    "(3186 in the messages, 1024 in the completion). Please reduce the length of the messages or completion."
)
VLLM_NEW = (
    "'max_tokens' or 'max_completion_tokens' is too large: 1024. This model's maximum context length is "
    "4096 tokens and your request has 3186 input tokens (1024 > 4096 - 3186)."
)
SGLANG = (
    "Requested token count exceeds the model's maximum context length of 4096 tokens. You requested a total "
    "of 4210 tokens: 3186 tokens from the input messages and 1024 tokens for the completion. Please reduce "
    "the number of tokens in the input messages or the completion to fit within the limit."
)
SGLANG_OLD = "The input (3186 tokens) is longer than the model's context length (4096 tokens)."
LLAMA_CPP = {  # as llama-server (the build `make llama-server` installs) answers a prompt beyond -c 4096
    "error": {
        "code": 400,
        "message": "request (3186 tokens) exceeds the available context size (4096 tokens), try increasing"
        " it",
        "type": "exceed_context_size_error",
        "n_prompt_tokens": 3186,
        "n_ctx": 4096,
    }
}


@pytest.mark.parametrize(
    "response",
    [
        error(400, VLLM_OLD),
        error(400, VLLM_NEW),
        error(400, SGLANG),
        error(400, SGLANG_OLD),
        {"status": 400, "chunks": [json.dumps(LLAMA_CPP)]},
    ],
    ids=["vllm-old", "vllm-new", "sglang", "sglang-old", "llama.cpp"],
)
async def test_context_length_refusals_are_recognised_with_the_servers_figures(scripted: Scripted, response):
    scripted.play(response)
    async with client(scripted) as c:
        with pytest.raises(ModelContextExceeded) as info:
            await c.complete(CONV, SamplingParams())
    assert info.value.room == 4096 - 3186
    assert len(scripted.requests()) == 1  # a 400 is not retried


async def test_503_retry_after_is_honoured(scripted: Scripted):
    scripted.play(error(503, "server is loading the model", **{"Retry-After": "1"}), body(ANSWER))
    started = time.monotonic()
    async with client(scripted, stream=False) as c:
        comp = await c.complete(CONV, SamplingParams())
    assert comp.text == ANSWER and time.monotonic() - started >= 0.9  # our own backoff is 0.01 s


async def test_retry_after_as_an_http_date_is_honoured(scripted: Scripted):
    when = email.utils.formatdate(time.time() + 2.5, usegmt=True)  # whole seconds: 1.5 to 2.5 s away
    scripted.play(error(429, "rate limited", **{"Retry-After": when}), body(ANSWER))
    started = time.monotonic()
    async with client(scripted, stream=False) as c:
        comp = await c.complete(CONV, SamplingParams())
    assert comp.text == ANSWER and time.monotonic() - started >= 1.2


# vLLM before 0.4.3 forbids request fields it does not know; its validation error, as it sends it
VLLM_EXTRA_FORBIDDEN = {
    "object": "error",
    "message": "[{'type': 'extra_forbidden', 'loc': ('body', 'stream_options'), 'msg': 'Extra inputs are not "
    "permitted', 'input': {'include_usage': True}, 'url': 'https://errors.pydantic.dev/2.7/v/extra_forbidden'}]",
    "type": "BadRequestError",
    "param": None,
    "code": 400,
}


async def test_a_server_refusing_stream_options_is_asked_again_without_it(scripted: Scripted):
    ok = sse(piece(ANSWER), piece("", "stop"))
    scripted.play({"status": 400, "chunks": [json.dumps(VLLM_EXTRA_FORBIDDEN)]}, ok, ok)
    async with client(scripted) as c:
        first = await c.complete(CONV, SamplingParams(seed=7))
        second = await c.complete(CONV, SamplingParams(seed=8))
    assert first.text == second.text == ANSWER
    sent = scripted.requests()
    assert len(sent) == 3 and "stream_options" in sent[0]
    assert all("stream_options" not in r for r in sent[1:])  # remembered: one refusal per client
    assert [r["seed"] for r in sent] == [7, 7, 8]  # everything else still sent


async def test_other_unknown_fields_are_still_refused(scripted: Scripted):
    refused = dict(
        VLLM_EXTRA_FORBIDDEN, message=VLLM_EXTRA_FORBIDDEN["message"].replace("stream_options", "x")
    )
    scripted.play({"status": 400, "chunks": [json.dumps(refused)]})
    async with client(scripted) as c:
        with pytest.raises(ModelRejected, match="extra_forbidden"):
            await c.complete(CONV, SamplingParams())
    assert len(scripted.requests()) == 1


async def test_an_aborted_completion_is_retried_not_taken_as_the_text(scripted: Scripted):
    # vLLM and SGLang end a request their engine dropped with finish_reason "abort" and the text so far
    scripted.play(sse(piece("So the answer"), piece("", "abort")), sse(piece(ANSWER), piece("", "stop")))
    async with client(scripted) as c:
        comp = await c.complete(CONV, SamplingParams())
    assert comp.text == ANSWER and len(scripted.requests()) == 2


async def test_concurrent_calls_refused_for_the_same_field_all_retry_without_it(scripted: Scripted):
    # N samples start at once: every request in flight carries stream_options and is refused
    ok = sse(piece(ANSWER), piece("", "stop"))
    refused = {"status": 400, "chunks": [json.dumps(VLLM_EXTRA_FORBIDDEN)], "delay": 0.2}
    scripted.play(refused, refused, refused, ok)
    async with client(scripted) as c:
        comps = await asyncio.gather(*(c.complete(CONV, SamplingParams(seed=i)) for i in range(3)))
    assert [comp.text for comp in comps] == [ANSWER] * 3
    assert sum("stream_options" in r for r in scripted.requests()) == 3


def llama_error_field(error: dict[str, object]) -> str:
    """llama.cpp's server streams a failure as an `error:` field, not `data:` (server_sent_event(sink,
    "error", ...)), then closes the connection."""
    return f"error: {json.dumps(error)}\n\n"


async def test_llama_cpp_error_field_in_a_stream_is_the_servers_failure(scripted: Scripted):
    scripted.play(sse(llama_error_field(LLAMA_CPP["error"]), done=None))
    async with client(scripted) as c:
        with pytest.raises(ModelContextExceeded) as info:
            await c.complete(CONV, SamplingParams())
    assert info.value.room == 4096 - 3186 and len(scripted.requests()) == 1
    crash = {"code": 500, "message": "failed to decode the batch", "type": "server_error"}
    scripted.play(sse(piece("So the answer"), llama_error_field(crash), done=None))
    async with client(scripted) as c:
        with pytest.raises(ModelServerError, match="failed to decode the batch"):
            await c.complete(CONV, SamplingParams(), _discard)


async def _discard(delta: str) -> None:
    return None
