"""`tirsolve replay-llm`: an OpenAI-compatible server that replays recorded trajectories.

Serves `/v1/completions`, `/v1/chat/completions` (with `continue_final_message`) and `/v1/models`, streaming
or not, with usage counts, so tests, benchmarks and the demo run the real service without a GPU.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from app.tir.replay import ReplayBook, ReplayTurn, count_tokens, cut_tokens, parse_chatml, token_ends

__all__ = ["ReplayOptions", "create_replay_app"]

_CHUNK_TOKENS = 4


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    model: str = "replay"
    latency_ms: float = 0.0  # added before every response (load tests)
    chunk_delay_ms: float = 0.0  # between streamed chunks
    context_length: int | None = None  # refuse prompt + max_tokens beyond this, as vLLM does
    echo_prefill: bool = False  # chat mode: repeat the assistant prefill, as llama.cpp server does
    return_stop: bool = False  # append the matched stop string, as servers with include_stop_str do
    request_log: Path | None = None  # append every completion request body as a JSON line (tests)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}}, status_code=status)


def _turn_of(body: dict[str, Any], chat: bool) -> ReplayTurn | None:
    if not chat:
        prompt = body.get("prompt")
        return parse_chatml(prompt) if isinstance(prompt, str) else None
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return None
    user = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    last = messages[-1]
    assistant = last.get("content", "") if last.get("role") == "assistant" else ""
    return ReplayTurn(user, assistant or "")


def _prompt_tokens(body: dict[str, Any], chat: bool) -> int:
    if not chat:
        return count_tokens(body.get("prompt", ""))
    return sum(count_tokens(m.get("content") or "") + 4 for m in body.get("messages", []))


def create_replay_app(book: ReplayBook, options: ReplayOptions | None = None) -> Starlette:
    opts = options or ReplayOptions()
    created = int(time.time())

    async def models(request: Request) -> Response:
        card = {"id": opts.model, "object": "model", "created": created, "owned_by": "replay"}
        if opts.context_length:
            card["max_model_len"] = opts.context_length
        return JSONResponse({"object": "list", "data": [card]})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "trajectories": len(book)})

    async def complete(request: Request, chat: bool) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "request body is not JSON")
        if not isinstance(body, dict):
            return _error(400, "request body must be a JSON object")
        if opts.request_log is not None:
            with opts.request_log.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"path": request.url.path, **body}) + "\n")
        turn = _turn_of(body, chat)
        if turn is None:
            return _error(400, "missing 'messages'" if chat else "missing 'prompt' (a string)")
        seed = body.get("seed") if isinstance(body.get("seed"), int) else 0
        segment = book.next_segment(turn, seed)
        if segment is None:
            return _error(404, "no recorded trajectory for this problem")
        max_tokens = body.get("max_tokens") or 16
        prompt_tokens = _prompt_tokens(body, chat)
        if opts.context_length and prompt_tokens + max_tokens > opts.context_length:
            return _error(
                400,
                f"This model's maximum context length is {opts.context_length} tokens. However, you "
                f"requested {prompt_tokens + max_tokens} tokens ({prompt_tokens} in the messages, "
                f"{max_tokens} in the completion).",
            )
        finish = "stop"
        text = segment
        if count_tokens(text) > max_tokens:
            text, finish = cut_tokens(text, max_tokens), "length"
        elif opts.return_stop and text and book.has_more(turn, seed):
            text += "```output"
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": count_tokens(text),
            "total_tokens": prompt_tokens + count_tokens(text),
        }
        if chat and opts.echo_prefill:
            text = turn.assistant + text
        if opts.latency_ms:
            await asyncio.sleep(opts.latency_ms / 1000)
        rid = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:12]}"
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                _stream(rid, text, finish, usage if include_usage else None, chat, opts),
                media_type="text/event-stream",
            )
        if chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": text, "finish_reason": finish}
        obj = "chat.completion" if chat else "text_completion"
        return JSONResponse(
            {"id": rid, "object": obj, "model": opts.model, "choices": [choice], "usage": usage}
        )

    async def completions(request: Request) -> Response:
        return await complete(request, chat=False)

    async def chat_completions(request: Request) -> Response:
        return await complete(request, chat=True)

    return Starlette(
        routes=[
            Route("/v1/models", models),
            Route("/health", health),
            Route("/v1/completions", completions, methods=["POST"]),
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        ]
    )


def _pieces(text: str) -> list[str]:
    """Split into chunks of a few tokens each, keeping every byte (whitespace rides with its token)."""
    out: list[str] = []
    start = 0
    for n, end in enumerate(token_ends(text), 1):
        if n % _CHUNK_TOKENS == 0:
            out.append(text[start:end])
            start = end
    if start < len(text):
        out.append(text[start:])
    return out


async def _stream(
    rid: str, text: str, finish: str, usage: dict[str, int] | None, chat: bool, opts: ReplayOptions
) -> AsyncIterator[str]:
    obj = "chat.completion.chunk" if chat else "text_completion"

    def chunk(piece: str | None, finish_reason: str | None) -> str:
        if chat:
            delta = {"content": piece} if piece is not None else {}
            choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        else:
            choice = {"index": 0, "text": piece or "", "finish_reason": finish_reason}
        payload = {"id": rid, "object": obj, "model": opts.model, "choices": [choice]}
        return f"data: {json.dumps(payload)}\n\n"

    for piece in _pieces(text):
        yield chunk(piece, None)
        if opts.chunk_delay_ms:
            await asyncio.sleep(opts.chunk_delay_ms / 1000)
    yield chunk(None, finish)
    if usage is not None:
        payload = {"id": rid, "object": obj, "model": opts.model, "choices": [], "usage": usage}
        yield f"data: {json.dumps(payload)}\n\n"
    yield "data: [DONE]\n\n"
