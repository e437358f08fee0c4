"""Recorded trajectories as a deterministic "model": find the problem, return the next segment.

Reads three record shapes, one JSON object per line:
- ToRA outputs: ``question`` + ``code: [trajectory text]``;
- ToRA corpus: ``messages`` with a user problem and the assistant trajectory;
- the project's own recordings (`app.tir.recorder`): ``problem`` + ``trajectory``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.tir.parsing import OUTPUT_FENCE

__all__ = [
    "ReplayBook",
    "ReplayTurn",
    "count_tokens",
    "cut_tokens",
    "parse_chatml",
    "segments",
    "token_ends",
]

_TOKEN = re.compile(r"\w+|[^\w\s]+")
_OUTPUT_END = re.compile(r"\n```[ \t]*(?:\n|$)")


def count_tokens(text: str) -> int:
    """Replay's stand-in for a tokenizer: words and runs of punctuation (close to BPE counts)."""
    return len(_TOKEN.findall(text))


def token_ends(text: str) -> list[int]:
    """End offset of every token of `text`."""
    return [m.end() for m in _TOKEN.finditer(text)]


def cut_tokens(text: str, n: int) -> str:
    """The prefix of `text` holding its first `n` tokens."""
    if n <= 0:
        return ""
    for i, m in enumerate(_TOKEN.finditer(text)):
        if i == n - 1:
            return text[: m.end()]
    return text


def segments(trajectory: str) -> list[str]:
    """Model-written pieces of a trajectory: text up to each ```output, then after each output block."""
    parts: list[str] = []
    pos = 0
    while (fence := trajectory.find(OUTPUT_FENCE, pos)) >= 0:
        parts.append(trajectory[pos:fence])
        end = _OUTPUT_END.search(trajectory, fence + len(OUTPUT_FENCE))
        if end is None:
            return parts  # output block never closed: nothing follows it
        pos = end.end()
    parts.append(trajectory[pos:])
    return parts


def _norm(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class ReplayTurn:
    """What a request asks for: the user's problem and the assistant text so far."""

    user: str
    assistant: str


def parse_chatml(prompt: str) -> ReplayTurn:
    """User and assistant text of a rendered Qwen ChatML prompt (whole prompt as user if not ChatML)."""
    user = prompt
    m = re.search(r"<\|im_start\|>user\n(.*?)<\|im_end\|>", prompt, re.DOTALL)
    if m:
        user = m.group(1)
    marker = "<|im_start|>assistant\n"
    at = prompt.rfind(marker)
    assistant = prompt[at + len(marker) :] if at >= 0 else ""
    return ReplayTurn(user, assistant)


def _record_pair(rec: dict[str, Any]) -> tuple[str, str] | None:
    question = rec.get("question") or rec.get("problem")
    if isinstance(rec.get("trajectory"), str) and question:
        return question, rec["trajectory"]
    code = rec.get("code")
    if question and isinstance(code, list) and code and isinstance(code[0], str):
        return question, code[0]
    messages = rec.get("messages")
    if isinstance(messages, list):
        user = next((m.get("content") for m in messages if m.get("role") == "user"), None)
        reply = next((m.get("content") for m in messages if m.get("role") == "assistant"), None)
        if user and reply:
            return user, reply
    return None


class ReplayBook:
    """Index of recorded trajectories by normalised problem text."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        # Several records for one problem are alternatives; the request's seed picks one (voting tests).
        self._by_question: dict[str, list[list[str]]] = {}
        for question, trajectory in pairs:
            self._by_question.setdefault(_norm(question), []).append(segments(trajectory))

    def __len__(self) -> int:
        return len(self._by_question)

    @classmethod
    def from_files(cls, paths: Iterable[Path]) -> ReplayBook:
        pairs: list[tuple[str, str]] = []
        for path in paths:
            with path.open(encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        pair = _record_pair(json.loads(line))
                    except ValueError as exc:
                        raise ValueError(f"{path}:{n}: not JSON: {exc}") from exc
                    if pair is not None:
                        pairs.append(pair)
        if not pairs:
            raise ValueError("no trajectories found (need question/problem + code/trajectory/messages)")
        return cls(pairs)

    def lookup(self, turn: ReplayTurn, seed: int = 0) -> list[str] | None:
        """Segments of the record whose problem is the user turn (or, failing that, appears in it)."""
        key = _norm(turn.user)
        found = self._by_question.get(key)
        if found is None:
            matches = [q for q in self._by_question if q and q in key]
            if not matches:
                return None
            found = self._by_question[max(matches, key=len)]
        return found[seed % len(found)]

    def next_segment(self, turn: ReplayTurn, seed: int = 0) -> str | None:
        """The segment after as many output blocks as the assistant text holds ("" past the end)."""
        parts = self.lookup(turn, seed)
        if parts is None:
            return None
        k = turn.assistant.count(OUTPUT_FENCE)
        return parts[k] if k < len(parts) else ""

    def has_more(self, turn: ReplayTurn, seed: int = 0) -> bool:
        """True when an output block follows the segment `next_segment` returns."""
        parts = self.lookup(turn, seed) or []
        return turn.assistant.count(OUTPUT_FENCE) + 1 < len(parts)
