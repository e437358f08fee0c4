"""One TIR trajectory: generate, run the closed ```python block, feed the output back, repeat."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from app.tir.errors import ModelContextExceeded, ProblemTooLong, SandboxUnavailable
from app.tir.model_client import Completion, ModelClient, SamplingParams
from app.tir.parsing import (
    find_last_code_block,
    last_boxed,
    prose_before_open_code,
    split_segments,
)
from app.tir.prompt import Conversation, render_chatml
from app.tir.trace import Sample, Step

__all__ = [
    "CodeSession",
    "EventSink",
    "LoopLimits",
    "SessionFactory",
    "check_prompt_fits",
    "estimate_tokens",
    "format_execution",
    "run_trajectory",
]

EventSink = Callable[[dict[str, Any]], Awaitable[None]]
_MIN_NEW_TOKENS = 8  # below this a model call cannot say anything useful
_SESSION_ENDING = frozenset({"timeout", "killed"})  # the sandbox ends a session's child on these
_SAFETY_TOKENS = 16  # slack for estimates of fed-back text, so we never ask past the context
_REPLY_RESERVE = 256  # context kept free after an execution's output for the model's next turn
# Qwen2's pre-tokenizer pattern with \p{L} as [^\W\d_] and \p{N} as \d: sympy output such as
# "[(-2, 3), (1/2, -1)]" is 14 pieces in 20 characters, not the 7 tokens of 3 characters each.
_LETTERS, _SYMBOLS = r"[^\W\d_]+", r"(?:[^\s\w]|_)"
_QWEN_PRETOKEN = re.compile(
    rf"(?i:'s|'t|'re|'ve|'m|'ll|'d)|(?:[^\r\n\w]|_)?{_LETTERS}|\d"
    rf"| ?{_SYMBOLS}+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_CARETS = re.compile(r"^\s*[~^]+\s*$")  # Python 3.11's pointers under a traceback's source line
_FRAME = re.compile(r'^\s*File "')
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


def check_prompt_fits(conv: Conversation, limits: LoopLimits) -> None:
    """Refuse a problem whose prompt leaves no room for an answer (each sample would end 'length' unasked)."""
    needed = estimate_tokens(render_chatml(conv))
    if limits.context_length - needed - _SAFETY_TOKENS < _MIN_NEW_TOKENS:
        raise ProblemTooLong(
            f"the problem is too long for the model: its prompt takes about {needed} tokens of the "
            f"{limits.context_length}-token context (TIRSOLVE_CONTEXT_LENGTH), leaving no room for an answer"
        )


def estimate_tokens(text: str) -> int:
    """Token count for text the server has not counted yet (our fed-back output, or no usage sent).

    Errs high: at least the pieces Qwen2.5's pre-tokenizer cuts the text into (each is one token or more;
    every digit is its own), and at least one token per ~3 characters of the other text (long words).
    """
    digits = sum(ch.isdigit() for ch in text)
    return max(digits + (len(text) - digits + 2) // 3, len(_QWEN_PRETOKEN.findall(text)))


_FENCE_TOKENS = estimate_tokens("\n```output\n\n```\n")  # the block around fed-back output


def _head_tail(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    half = max(limit, 0) // 2
    omitted = len(text) - 2 * half
    return f"{text[:half]}\n... [{omitted} characters omitted] ...\n{text[len(text) - half :]}", True


def _traceback_tail(error: str, lines: int) -> str:
    """The end of a traceback, at most `lines` lines: the exception, and before it the innermost frame of
    the model's own code (its line number and source), not library internals; caret lines are dropped."""
    kept = [ln for ln in error.strip().splitlines() if ln.strip() and not _CARETS.match(ln)]
    frames = [i for i, ln in enumerate(kept) if _FRAME.match(ln)]
    if frames:
        section = max((i for i, ln in enumerate(kept) if ln.startswith("Traceback")), default=0)
        cell = next((i for i in reversed(frames) if i >= section and '"<cell' in kept[i]), frames[-1])
        exception = kept[_frame_end(kept, frames[-1]) :]
        if exception:
            kept = kept[cell : _frame_end(kept, cell)] + exception
    return _HOST_PATH.sub(r'File "\1"', "\n".join(kept[-lines:]))


def _frame_end(lines: list[str], frame: int) -> int:
    """Index just past a frame's `File ...` line and its source line, if it has one."""
    has_source = frame + 1 < len(lines) and lines[frame + 1].startswith("    ")
    return frame + 2 if has_source else frame + 1


def format_execution(
    result: RunResultLike, limits: LoopLimits, max_tokens: int | None = None
) -> tuple[str, bool]:
    """What the model sees for one run: stdout, then the cause of failure; long text cut head+tail.

    The cut keeps `output_max_chars`, and fewer when needed to stay within `max_tokens` (by estimate).
    """
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
        parts.append(_traceback_tail(result.error, 1) if result.error else "Error: execution was killed")
    whole = "\n".join(parts)
    limit = limits.output_max_chars
    text, cut = _head_tail(whole, limit)
    while max_tokens is not None and limit > 0 and (tokens := estimate_tokens(text)) > max_tokens:
        limit = min(limit - 1, limit * max_tokens // tokens)  # shrinks every time: ends at the marker alone
        text, cut = _head_tail(whole, limit)
    return text, cut or bool(result.truncated)


class _Trajectory:
    """State of one trajectory: the growing conversation, its sample record, token use, sandbox session."""

    def __init__(
        self,
        client: ModelClient,
        sessions: SessionFactory,
        conv: Conversation,
        params: SamplingParams,
        limits: LoopLimits,
        emit: EventSink | None,
        index: int,
    ) -> None:
        self.client, self.sessions, self.conv = client, sessions, conv
        self.params, self.limits, self.emit, self.index = params, limits, emit, index
        self.sample = Sample(seed=params.seed)
        self.used_tokens = estimate_tokens(render_chatml(conv))  # server counts replace this after a call
        self.session: CodeSession | None = None
        self._session_cm: contextlib.AbstractAsyncContextManager[CodeSession] | None = None

    async def _emit(self, event: dict[str, Any]) -> None:
        if self.emit is not None:
            await self.emit({**event, "sample": self.index})

    async def _on_delta(self, piece: str) -> None:
        await self._emit({"event": "text", "delta": piece})

    async def generate(self, budget: int) -> Completion:
        """One model call; the new text joins the conversation and the steps."""
        comp = await self.client.complete(
            self.conv,
            self.params.with_max_tokens(min(self.params.max_tokens, budget)),
            self._on_delta if self.emit else None,
        )
        self.conv = self.conv.extended(comp.text)
        usage = self.sample.usage
        usage.calls += 1
        self.sample.timing.llm += comp.duration_ms
        completion_tokens = comp.completion_tokens or estimate_tokens(comp.text)
        usage.completion_tokens += completion_tokens
        usage.cached_prompt_tokens += comp.cached_tokens or 0
        usage.prompt_tokens = comp.prompt_tokens if comp.prompt_tokens is not None else self.used_tokens
        self.used_tokens = usage.prompt_tokens + completion_tokens
        return comp

    async def generate_within_context(self, budget: int) -> Completion | None:
        """`generate`, or None when the server says the prompt leaves no room for new text.

        Our token counts for fed-back output are estimates; when the server refuses prompt + max_tokens as
        too long and says how long the prompt is, one retry asks for exactly the room that is left.
        """
        try:
            return await self.generate(budget)
        except ModelContextExceeded as exc:
            refused = exc
        room = refused.room
        if room is None or refused.prompt_tokens is None or not _MIN_NEW_TOKENS <= room < budget:
            return None
        self.used_tokens = refused.prompt_tokens  # the server's count beats our estimate
        try:
            return await self.generate(room)
        except ModelContextExceeded:
            return None

    async def _session(self) -> CodeSession:
        if self.session is None:
            opened = time.perf_counter()
            cm = self.sessions()
            try:
                self.session = await cm.__aenter__()
            except OSError as exc:
                raise SandboxUnavailable(f"sandbox unavailable: {exc}") from exc
            self._session_cm = cm
            self.sample.timing.sandbox += (time.perf_counter() - opened) * 1000  # forking the child
        return self.session

    async def _close_session(self) -> None:
        cm, self._session_cm, self.session = self._session_cm, None, None
        if cm is not None:
            closing = time.perf_counter()
            await cm.__aexit__(None, None, None)
            self.sample.timing.sandbox += (time.perf_counter() - closing) * 1000

    async def execute(self, code: str) -> bool:
        """Run a block in the trajectory's session and feed the output back; True if it failed."""
        session = await self._session()
        started = time.perf_counter()
        try:
            result = await session.run(code, timeout=self.limits.exec_timeout_s)
        except OSError as exc:
            raise SandboxUnavailable(f"sandbox failed: {exc}") from exc
        # wall time as we saw it (queueing and IPC included); the step keeps the execution time
        self.sample.timing.sandbox += (time.perf_counter() - started) * 1000
        if result.status in _SESSION_ENDING:
            await self._close_session()  # its interpreter is gone: the next block starts a fresh one
        self.sample.rounds += 1
        # the output may fill the context only up to what the model needs to read it and reply
        room = self.limits.context_length - self.used_tokens - _SAFETY_TOKENS - _REPLY_RESERVE - _FENCE_TOKENS
        output, truncated = format_execution(result, self.limits, max(room, 0))
        self.sample.steps.append(Step("output", output, result.status, result.duration_ms, truncated))
        await self._emit(
            {"event": "output", "output": output, "status": result.status, "duration_ms": result.duration_ms}
        )
        fed_back = ("" if self.conv.assistant.endswith("\n") else "\n") + f"```output\n{output}\n```\n"
        self.conv = self.conv.extended(fed_back)
        self.used_tokens += estimate_tokens(fed_back)
        return result.status != "ok"

    async def run(self) -> Sample:
        sample, last_failed = self.sample, False
        try:
            while True:
                budget = self.limits.context_length - self.used_tokens - _SAFETY_TOKENS
                if budget < _MIN_NEW_TOKENS:
                    sample.finish = "length"
                    break
                comp = await self.generate_within_context(budget)
                if comp is None:
                    sample.finish = "length"
                    break
                segments = split_segments(comp.text)
                for seg in segments:
                    sample.steps.append(Step(seg.type, seg.content))
                    if seg.type == "code":
                        await self._emit({"event": "code", "code": seg.content})
                # the answer lives in prose: a \boxed{} printed by code or written inside it does not count
                prose = (prose_before_open_code(s.content) for s in segments if s.type == "text")
                answer = last_boxed("\n".join(prose))
                # as Qwen-Agent's TIR agent does: the last closed block runs even with prose after it
                # ("Let me run this code."), as the model may have asked for its output or ended its turn
                block = find_last_code_block(comp.text)
                if answer:
                    sample.answer, sample.finish, sample.answer_after_error = answer, "answered", last_failed
                    break
                if comp.finish_reason == "length":
                    sample.finish = "length"
                    break
                if block is None:
                    sample.finish = "stop_no_answer"
                    break
                if sample.rounds >= self.limits.max_rounds:
                    sample.finish = "max_rounds"
                    break
                last_failed = await self.execute(block.code)
        finally:
            await self._close_session()
        sample.text = self.conv.assistant
        return sample


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
    """Run one trajectory to its end; model and sandbox failures propagate as `SolveError`s.

    Generate until a stop; the last closed ```python block of the new text (if it holds no boxed answer)
    runs in the trajectory's sandbox session, its output goes back as a ```output block, and generation
    continues.
    Ends at a boxed answer, `max_rounds` executions, the context budget, or the end of text.
    """
    return await _Trajectory(client, sessions, conv, params, limits, emit, index).run()
