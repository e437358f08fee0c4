"""Async client for OpenAI-compatible model servers: raw `completions` (ChatML rendered here) or `chat`.

Every call sends the sampling parameters explicitly (vLLM would otherwise apply the model's generation
defaults), stops at ```output and the end tokens without relying on the stop string coming back, retries
connection errors, 429 and 5xx with backoff, and turns every failure into a typed `ModelError`.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import httpx

from app.retry_after import retry_after_seconds
from app.tir.errors import (
    ModelBadResponse,
    ModelContextExceeded,
    ModelError,
    ModelRejected,
    ModelServerError,
    ModelTimeout,
    ModelUnavailable,
)
from app.tir.parsing import OUTPUT_FENCE
from app.tir.prompt import Conversation, render_chatml

__all__ = ["STOP_STRINGS", "Completion", "ModelClient", "SamplingParams"]

STOP_STRINGS: tuple[str, ...] = (OUTPUT_FENCE, "<|im_end|>", "<|endoftext|>")
_MAX_TEXT_CHARS = 1_000_000  # a runaway server must not exhaust our memory
_ERROR_SNIPPET = 200

DeltaSink = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class SamplingParams:
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 1024
    seed: int = 0

    def with_max_tokens(self, n: int) -> SamplingParams:
        return replace(self, max_tokens=n)


@dataclass(frozen=True, slots=True)
class Completion:
    text: str  # new text, cut at the first stop string, prefill echo removed
    finish_reason: str  # "stop" | "length" (other server values passed through)
    prompt_tokens: int | None  # the server's counts, None when it sent no usage
    completion_tokens: int | None
    duration_ms: float
    cached_tokens: int | None = None  # prompt tokens the server served from its prefix cache, if it says


_Result = tuple[str | None, dict[str, Any]]  # finish reason, the server's usage object


def _cached_tokens(usage: dict[str, Any]) -> int | None:
    """Prefix-cache hits as OpenAI, vLLM and llama.cpp's server report them."""
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return cached if isinstance(cached, int) else None


_EVENTS_AFTER_STOP = 4  # read past a returned stop string for the finish and usage events that follow
_FAILED_FINISH = frozenset({"abort", "error"})  # vLLM and SGLang: the engine dropped the request mid-way
# Fields a server may not know (vLLM before 0.4.3 answers 400 "extra_forbidden" to stream_options);
# without them the answer only lacks streamed usage counts or a fixed seed.
_OPTIONAL_FIELDS = ("stream_options", "seed")
_UNKNOWN_FIELD = re.compile(r"extra|unrecognized|unknown|not permitted|unexpected|unsupported", re.IGNORECASE)


class _FieldRefused(Exception):
    def __init__(self, field: str, error: ModelError) -> None:
        self.field = field
        self.error = error


class _Retryable(Exception):
    def __init__(self, error: ModelError, retry_after: float | None = None) -> None:
        self.error = error
        self.retry_after = retry_after


_STOP_PREFIXES = frozenset(s[:n] for s in STOP_STRINGS for n in range(1, len(s)))


def _held_back(text: str) -> int:
    """Length of the longest tail that could be the start of a stop string (not safe to emit yet)."""
    for n in range(min(len(text), max(map(len, STOP_STRINGS)) - 1), 0, -1):
        if text[-n:] in _STOP_PREFIXES:
            return n
    return 0


class _TextAssembler:
    """Accumulates streamed text: strips an echoed prefill, stops at stop strings, emits safe deltas.

    Work per piece is proportional to the piece (only the new tail is scanned for stop strings).
    """

    _LONGEST_STOP = max(map(len, STOP_STRINGS))

    def __init__(self, prefill: str, sink: DeltaSink | None) -> None:
        self._prefill = prefill
        self._sink = sink
        self._raw = ""
        self._start: int | None = None if prefill else 0  # where new text begins (after an echo)
        self._scanned = 0  # raw offset up to which stop strings were searched
        self._stop_at: int | None = None
        self._emitted = 0  # chars of text already handed to the sink
        self._sent = False  # the sink has seen some text: a retry would show it twice

    @property
    def stopped(self) -> bool:
        return self._stop_at is not None

    def _decide_start(self, final: bool) -> None:
        # llama.cpp echoes the prefilled assistant text; until we have seen as much as the prefill
        # (or the text diverges from it) we cannot tell an echo from new text.
        raw, prefill = self._raw, self._prefill
        if len(raw) >= len(prefill) or final:
            self._start = len(prefill) if raw.startswith(prefill) else 0
        elif not prefill.startswith(raw):
            self._start = 0

    def _scan(self) -> None:
        assert self._start is not None
        begin = max(self._start, self._scanned - self._LONGEST_STOP + 1)
        hits = [i for stop in STOP_STRINGS if (i := self._raw.find(stop, begin)) >= 0]
        if hits:
            self._stop_at = min(hits)
        self._scanned = len(self._raw)

    def _end(self) -> int:
        return self._stop_at if self._stop_at is not None else len(self._raw)

    @property
    def text(self) -> str:
        if self._start is None:
            self._decide_start(final=True)
            self._scan()
        assert self._start is not None
        return self._raw[self._start : self._end()]

    async def feed(self, piece: str) -> None:
        if self.stopped:
            return
        self._raw += piece
        if len(self._raw) > _MAX_TEXT_CHARS:
            raise ModelBadResponse("model server sent more text than any continuation can hold")
        if self._start is None:
            self._decide_start(final=False)
            if self._start is None:
                return
        self._scan()
        end = self._end()
        if not self.stopped:
            end -= _held_back(self._raw[max(self._start, end - self._LONGEST_STOP) : end])
        safe = end - self._start
        if self._sink is not None and safe > self._emitted:
            await self._sink(self._raw[self._start + self._emitted : self._start + safe])
            self._sent = True
        self._emitted = max(self._emitted, safe)

    async def flush(self) -> None:
        text = self.text
        if self._sink is not None and len(text) > self._emitted:
            await self._sink(text[self._emitted :])
            self._sent = True
        self._emitted = len(text)

    @property
    def emitted_any(self) -> bool:
        return self._sent


class ModelClient:
    """One shared connection pool to the model server; `complete()` continues one conversation."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        mode: Literal["completions", "chat"] = "completions",
        stream: bool = True,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_connections: int = 256,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.mode = mode
        self.stream = stream
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._refused_fields: set[str] = set()  # optional request fields this server said it does not know
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=64),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ModelClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def list_models(self, timeout: float = 3.0) -> list[str]:  # noqa: ASYNC109 (httpx timeout)
        """Ids from `GET /models`; raises a `ModelError` when the server is unreachable or failing."""
        try:
            r = await self._http.get("/models", timeout=timeout)
        except httpx.TimeoutException as exc:
            raise ModelTimeout(
                f"model server at {self.base_url} did not answer /models in {timeout} s"
            ) from exc
        except httpx.HTTPError as exc:
            raise ModelUnavailable(f"model server at {self.base_url} unreachable: {_describe(exc)}") from exc
        if r.status_code != 200:
            raise ModelServerError(f"model server answered {r.status_code} to GET /models")
        try:
            return [m["id"] for m in r.json()["data"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelBadResponse("model server sent a malformed /models response") from exc

    # --- completion ---------------------------------------------------------------------------------

    def _payload(self, conv: Conversation, params: SamplingParams) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
            "stop": list(STOP_STRINGS),
            "stream": self.stream,
        }
        if self.stream:
            body["stream_options"] = {"include_usage": True}
        for field in self._refused_fields:
            body.pop(field, None)
        if self.mode == "chat":
            if conv.assistant:
                body.update(
                    messages=conv.messages(), continue_final_message=True, add_generation_prompt=False
                )
            else:  # first round: an empty prefill would render a closed assistant turn in some templates
                body.update(messages=conv.messages()[:2], add_generation_prompt=True)
            return "/chat/completions", body
        body["prompt"] = render_chatml(conv)
        return "/completions", body

    async def complete(
        self, conv: Conversation, params: SamplingParams, on_delta: DeltaSink | None = None
    ) -> Completion:
        """Continue the assistant turn of `conv`; `on_delta` receives text pieces as they arrive."""
        path, body = self._payload(conv, params)
        prefill = conv.assistant if self.mode == "chat" else ""
        started = time.perf_counter()
        attempt = 0
        while True:
            assembler = _TextAssembler(prefill, on_delta)
            try:
                if self.stream:
                    result = await self._post_stream(path, body, assembler)
                else:
                    result = await self._post_once(path, body, assembler)
                if result[0] in _FAILED_FINISH and not assembler.stopped:
                    raise _Retryable(
                        ModelServerError(f"model server ended the completion with '{result[0]}'")
                    )
            except _FieldRefused as refused:
                # each retry sends one optional field fewer, so this ends; calls already in flight when
                # another learnt the refusal get it too, and every later call leaves the field out
                self._refused_fields.add(refused.field)
                body.pop(refused.field)
                continue
            except _Retryable as r:
                if attempt >= self.retries or assembler.emitted_any:
                    raise r.error from None
                delay = r.retry_after if r.retry_after is not None else self.backoff * 2**attempt
                await asyncio.sleep(min(delay, self.max_backoff))
                attempt += 1
                continue
            finish, usage = result
            await assembler.flush()
            if assembler.stopped and finish == "length":
                finish = "stop"  # we cut at a stop string ourselves
            return Completion(
                text=assembler.text,
                finish_reason=finish or "stop",
                prompt_tokens=usage.get("prompt_tokens"),
                completion_tokens=usage.get("completion_tokens"),
                duration_ms=(time.perf_counter() - started) * 1000,
                cached_tokens=_cached_tokens(usage),
            )

    def _check_status(self, response: httpx.Response, body_text: str, request: dict[str, Any]) -> None:
        status = response.status_code
        if status == 200:
            return
        error = _failure(status, body_text, retry_after_seconds(response))
        if status in (400, 422) and type(error) is ModelRejected and _UNKNOWN_FIELD.search(body_text):
            for field in _OPTIONAL_FIELDS:
                if field in request and re.search(rf"\b{field}\b", body_text):
                    raise _FieldRefused(field, error)
        raise error

    async def _post_once(self, path: str, body: dict[str, Any], assembler: _TextAssembler) -> _Result:
        async with self._transport_errors():
            response = await self._http.post(path, json=body)
            self._check_status(response, response.text, body)
        return await self._parse_body(response.text, assembler)

    async def _parse_body(self, text: str, assembler: _TextAssembler) -> _Result:
        try:
            data = json.loads(text)
            _raise_error_object(data)
            choice = data["choices"][0]
            piece = choice["text"] if self.mode == "completions" else choice["message"]["content"]
            if not isinstance(piece, str | None):
                raise TypeError(f"text is {type(piece).__name__}")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ModelBadResponse(
                f"model server sent malformed JSON: {' '.join(text.split())[:_ERROR_SNIPPET]!r}"
            ) from exc
        await assembler.feed(piece or "")
        usage = data.get("usage")
        return choice.get("finish_reason"), usage if isinstance(usage, dict) else {}

    async def _post_stream(self, path: str, body: dict[str, Any], assembler: _TextAssembler) -> _Result:
        finish: str | None = None
        usage: dict[str, Any] = {}
        done = False
        read_after_stop = 0
        async with self._transport_errors(), self._http.stream("POST", path, json=body) as response:
            if response.status_code != 200:
                text = (await response.aread()).decode("utf-8", "replace")
                self._check_status(response, text, body)
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                # Some servers ignore `stream: true` and answer with one JSON body.
                return await self._parse_body((await response.aread()).decode("utf-8", "replace"), assembler)
            try:
                async for data in _sse_data(response):
                    if data == "[DONE]":
                        done = True
                        break
                    try:
                        chunk = json.loads(data)
                    except ValueError as exc:
                        raise ModelBadResponse(f"model server streamed malformed JSON: {data[:100]}") from exc
                    if not isinstance(chunk, dict):
                        raise ModelBadResponse(f"model server streamed an unexpected chunk: {data[:100]}")
                    if not assembler.stopped:
                        _raise_error_object(chunk)  # vLLM, SGLang, llama.cpp report mid-stream failures so
                    if isinstance(chunk.get("usage"), dict):
                        usage = chunk["usage"]
                    for choice in chunk.get("choices") or []:
                        if not isinstance(choice, dict):
                            continue  # a null entry carries nothing
                        piece = self._streamed_piece(choice)
                        if piece:
                            await assembler.feed(piece)
                        finish = choice.get("finish_reason") or finish
                    if assembler.stopped:
                        # The text is complete. A server that sent the stop string back ends right after it
                        # (finish, usage counts): read those; one that ignored our stop strings gets cut off.
                        read_after_stop += 1
                        if (finish and usage) or read_after_stop > _EVENTS_AFTER_STOP:
                            break
            except httpx.ReadTimeout:
                # quiet after its finish reason (no [DONE], no close): the completion is whole all the same
                if finish is None and not assembler.stopped:
                    raise
                done = True
        if assembler.stopped:
            finish, done = finish or "stop", True
        if not done and finish is None:
            raise _Retryable(ModelBadResponse("model server ended the stream before the completion finished"))
        return finish, usage

    def _streamed_piece(self, choice: dict[str, Any]) -> str | None:
        """The text of one streamed choice; a null `text` or `delta` (careless servers) is no text."""
        if self.mode == "completions":
            text = choice.get("text")
        else:
            delta = choice.get("delta")
            text = delta.get("content") if isinstance(delta, dict) else None
        return text if isinstance(text, str) else None

    def _transport_errors(self) -> _TransportErrors:
        return _TransportErrors(self.base_url)


class _TransportErrors:
    """Maps httpx transport failures to typed errors (retryable where a retry can help)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> bool:
        if exc is None or not isinstance(exc, httpx.HTTPError):
            return False
        if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError):
            raise _Retryable(
                ModelUnavailable(f"model server at {self.base_url} unreachable: {_describe(exc)}")
            ) from exc
        if isinstance(exc, httpx.TimeoutException):
            raise ModelTimeout(
                f"model server at {self.base_url} sent nothing for longer than the read timeout"
            ) from exc
        if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
            raise _Retryable(
                ModelBadResponse(f"model server cut the response short: {_describe(exc)}")
            ) from exc
        raise _Retryable(
            ModelUnavailable(f"model server at {self.base_url} failed: {_describe(exc)}")
        ) from exc


# How vLLM, SGLang, llama.cpp and LM Studio word "prompt + max_tokens exceed the context".
_CONTEXT_ERROR = re.compile(r"context (?:length|size|window)|exceed_context_size", re.IGNORECASE)
_CONTEXT_LIMIT = re.compile(
    r"context (?:length|size) (?:is |of )?(?:only )?\(?(\d+)|\bn_ctx\W+(\d+)", re.IGNORECASE
)
_PROMPT_SIZE = re.compile(
    r"(\d+) (?:tokens )?in the messages|has (\d+) input tokens|(\d+) tokens from the input"
    r"|input \((\d+) tokens\)|\bn_prompt_tokens\W+(\d+)",
    re.IGNORECASE,
)


def _first_number(pattern: re.Pattern[str], text: str) -> int | None:
    m = pattern.search(text)
    return next((int(g) for g in m.groups() if g), None) if m else None


def _failure(status: int, body_text: str, retry_after: float | None = None) -> Exception:
    """The exception for a failed answer: retryable (429, 5xx) or a final `ModelRejected` (other 4xx)."""
    message = _error_message(body_text)
    if status == 400 and _CONTEXT_ERROR.search(body_text):
        return ModelContextExceeded(
            f"model server refused a prompt too long for its context: {message}",
            _first_number(_CONTEXT_LIMIT, body_text),
            _first_number(_PROMPT_SIZE, body_text),
        )
    if status == 429:
        return _Retryable(
            ModelServerError(f"model server kept answering 429 (rate limited): {message}"), retry_after
        )
    if status >= 500:
        return _Retryable(ModelServerError(f"model server answered {status}: {message}"), retry_after)
    return ModelRejected(f"model server rejected the request with {status}: {message}")


def _error_object(data: Any) -> dict[str, Any] | str | None:
    """The error a JSON answer carries: `{"error": ...}` (OpenAI, SGLang, llama.cpp) or vLLM's bare
    `{"object": "error", ...}`."""
    if not isinstance(data, dict):
        return None
    if data.get("object") == "error":
        return data
    error = data.get("error")
    return error if isinstance(error, dict | str) and error else None


def _error_message(body_text: str) -> str:
    """The server's error text on one line: the error object's message when there is one."""
    try:
        error = _error_object(json.loads(body_text))
    except ValueError:
        error = None
    message = error.get("message") if isinstance(error, dict) else error
    text = message if isinstance(message, str) and message else body_text
    return " ".join(text.split())[:_ERROR_SNIPPET]


def _raise_error_object(data: Any) -> None:
    """Servers that fail after answering 200 send an error object in the body or as a stream event."""
    error = _error_object(data)
    if error is None:
        return
    code = error.get("code") if isinstance(error, dict) else None
    status = code if isinstance(code, int) and 400 <= code < 600 else 500
    raise _failure(status, json.dumps(data))


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _error_event(payload: str) -> str:
    """llama.cpp's server streams a failure as an `error:` field holding the bare error object: as the
    `{"error": ...}` data event other servers send, so it is raised as theirs are."""
    try:
        error = json.loads(payload)
    except ValueError:
        error = payload
    return json.dumps({"error": error or "model server sent an empty error event"})


async def _sse_data(response: httpx.Response) -> AsyncIterator[str]:
    """The `data:` payloads of a server-sent-event stream (multi-line data joined); `error:` fields too."""
    lines: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if lines:
                yield "\n".join(lines)
                lines = []
            continue
        if line.startswith("data:"):
            lines.append(line[5:].lstrip(" "))
        elif line.startswith("error:"):
            yield _error_event(line[6:].strip())
        # comments (":") and other fields are ignored
    if lines:
        yield "\n".join(lines)
