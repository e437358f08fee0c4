"""One TIR trajectory: generate, run the closed ```python block, feed the output back, repeat."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from app.tir.errors import SandboxUnavailable
from app.tir.model_client import ModelClient, SamplingParams
from app.tir.parsing import find_trailing_code_block, last_boxed, split_segments
from app.tir.prompt import Conversation, render_chatml
from app.tir.trace import Sample, Step

__all__ = [
    "CodeSession",
    "EventSink",
    "LoopLimits",
    "SessionFactory",
    "estimate_tokens",
    "format_execution",
    "run_trajectory",
]

EventSink = Callable[[dict[str, Any]], Awaitable[None]]
_MIN_NEW_TOKENS = 8  # below this a model call cannot say anything useful
_HOST_PATH = re.compile(r'File "(?:/[^"]*/)?([^"/]*)"')


class RunResultLike(Protocol):
    status: str
    stdout: str
    stderr: str
    error: str | None
    truncated: bool
    duration_ms: float


class CodeSession(Protocol):
    # the sandbox enforces the limit itself (killing the child), so a timeout argument, not asyncio.timeout
    async def run(self, code: str, timeout: float | None = ...) -> RunResultLike: ...  # noqa: ASYNC109


SessionFactory = Callable[[], contextlib.AbstractAsyncContextManager[CodeSession]]


@dataclass(frozen=True, slots=True)
class LoopLimits:
    max_rounds: int = 4
    context_length: int = 4096
    output_max_chars: int = 1200
    traceback_lines: int = 4
    exec_timeout_s: float = 10.0


def estimate_tokens(text: str) -> int:
    """Fallback token count when the server sends no usage: ~3 chars per token errs on the safe side."""
    return (len(text) + 2) // 3


def _head_tail(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    half = limit // 2
    omitted = len(text) - 2 * half
    return f"{text[:half]}\n... [{omitted} characters omitted] ...\n{text[-half:]}", True


def _traceback_tail(error: str, lines: int) -> str:
    kept = [ln for ln in error.strip().splitlines() if ln.strip()][-lines:]
    return _HOST_PATH.sub(r'File "\1"', "\n".join(kept))


def format_execution(result: RunResultLike, limits: LoopLimits) -> tuple[str, bool]:
    """What the model sees for one run: stdout, then the cause of failure; long text cut head+tail."""
    parts = [result.stdout.rstrip("\n")] if result.stdout.strip() else []
    if result.status == "error":
        parts.append(_traceback_tail(result.error or result.stderr or "Error", limits.traceback_lines))
    elif result.status == "timeout":
        parts.append(f"TimeoutError: execution exceeded {limits.exec_timeout_s:g} seconds")
    elif result.status == "memory":
        parts.append("MemoryError: execution exceeded the memory limit")
    elif result.status == "output_limit":
        parts.append("... [output limit reached]")
    elif result.status == "killed":
        parts.append("Error: execution was killed")
    text, cut = _head_tail("\n".join(parts), limits.output_max_chars)
    return text, cut or bool(result.truncated)


async def _emit(sink: EventSink | None, event: dict[str, Any]) -> None:
    if sink is not None:
        await sink(event)


async def run_trajectory(
    client: ModelClient,
    sessions: SessionFactory,
    conv: Conversation,
    params: SamplingParams,
    limits: LoopLimits,
    *,
    emit: EventSink | None = None,
    index: int = 0,
) -> Sample:
    """Run one trajectory to its end; model and sandbox failures propagate as `SolveError`s."""
    sample = Sample(seed=params.seed)
    used_tokens = estimate_tokens(render_chatml(conv))  # replaced by server counts once we have them
    last_failed = False
    async with contextlib.AsyncExitStack() as stack:
        session: CodeSession | None = None
        while True:
            budget = limits.context_length - used_tokens
            if budget < _MIN_NEW_TOKENS:
                sample.finish = "length"
                break

            async def on_delta(piece: str) -> None:
                await _emit(emit, {"event": "text", "sample": index, "delta": piece})

            comp = await client.complete(
                conv, params.with_max_tokens(min(params.max_tokens, budget)), on_delta if emit else None
            )
            conv = conv.extended(comp.text)
            sample.usage.calls += 1
            sample.timing.llm += comp.duration_ms
            completion_tokens = comp.completion_tokens or estimate_tokens(comp.text)
            sample.usage.completion_tokens += completion_tokens
            if comp.prompt_tokens is not None:
                sample.usage.prompt_tokens = comp.prompt_tokens
                used_tokens = comp.prompt_tokens + completion_tokens
            else:
                sample.usage.prompt_tokens = used_tokens
                used_tokens += completion_tokens
            for seg in split_segments(comp.text):
                sample.steps.append(Step(seg.type, seg.content))
                if seg.type == "code":
                    await _emit(emit, {"event": "code", "sample": index, "code": seg.content})

            answer = last_boxed(comp.text)
            if answer:
                sample.answer, sample.finish, sample.answer_after_error = answer, "answered", last_failed
                break
            if comp.finish_reason == "length":
                sample.finish = "length"
                break
            block = find_trailing_code_block(comp.text)
            if block is None:
                sample.finish = "stop_no_answer"
                break
            if sample.rounds >= limits.max_rounds:
                sample.finish = "max_rounds"
                break

            if session is None:
                try:
                    session = await stack.enter_async_context(sessions())
                except OSError as exc:
                    raise SandboxUnavailable(f"sandbox unavailable: {exc}") from exc
            try:
                result = await session.run(block.code, timeout=limits.exec_timeout_s)
            except OSError as exc:
                raise SandboxUnavailable(f"sandbox failed: {exc}") from exc
            sample.rounds += 1
            sample.timing.sandbox += result.duration_ms
            last_failed = result.status != "ok"
            output, truncated = format_execution(result, limits)
            sample.steps.append(Step("output", output, result.status, result.duration_ms, truncated))
            await _emit(
                emit,
                {
                    "event": "output",
                    "sample": index,
                    "output": output,
                    "status": result.status,
                    "duration_ms": result.duration_ms,
                },
            )
            fed_back = ("" if comp.text.endswith("\n") else "\n") + f"```output\n{output}\n```\n"
            conv = conv.extended(fed_back)
            used_tokens += estimate_tokens(fed_back)
    sample.text = conv.assistant
    return sample
