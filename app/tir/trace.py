"""What a solve produces: steps of a trajectory, samples, the voted result. Plain data, JSON-ready."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["Finish", "Sample", "SolveResult", "Step", "Timing", "Usage", "Vote"]

Finish = Literal["answered", "max_rounds", "length", "stop_no_answer", "error"]


@dataclass(slots=True)
class Step:
    """`text` and `code` come from the model; `output` is what the sandbox printed for the code before it."""

    type: Literal["text", "code", "output"]
    content: str
    status: str | None = None  # output steps: the sandbox RunResult status
    duration_ms: float | None = None  # output steps
    truncated: bool | None = None  # output steps: cut head+tail before going back to the model

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type, "content": self.content}
        if self.type == "output":
            d.update(status=self.status, duration_ms=self.duration_ms, truncated=self.truncated)
        return d


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0  # prompt size of the last model call
    completion_tokens: int = 0  # summed over calls
    calls: int = 0
    cached_prompt_tokens: int = 0  # summed over calls: prompt tokens the server's prefix cache served

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(slots=True)
class Timing:
    total: float = 0.0
    llm: float = 0.0
    sandbox: float = 0.0

    def add(self, other: Timing) -> None:
        self.llm += other.llm
        self.sandbox += other.sandbox

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 2) for k, v in asdict(self).items()}


@dataclass(slots=True)
class Sample:
    """One trajectory."""

    seed: int
    answer: str | None = None
    finish: Finish = "stop_no_answer"
    steps: list[Step] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    timing: Timing = field(default_factory=Timing)
    rounds: int = 0  # code blocks executed
    answer_after_error: bool = False  # the answer came right after a failed execution
    error: str | None = None  # finish == "error": what went wrong
    text: str = ""  # the full assistant turn, byte for byte as sent back to the model

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "finish": self.finish,
            "seed": self.seed,
            "rounds": self.rounds,
            "answer_after_error": self.answer_after_error,
            "error": self.error,
            "steps": [s.to_dict() for s in self.steps],
            "usage": self.usage.to_dict(),
            "timing_ms": self.timing.to_dict(),
        }


@dataclass(slots=True)
class Vote:
    answer: str
    count: int


@dataclass(slots=True)
class SolveResult:
    answer: str | None
    confidence: float
    votes: list[Vote]
    samples: list[Sample]
    timing: Timing
    model: str

    @property
    def status(self) -> str:
        return "answered" if self.answer is not None else "no_answer"

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "status": self.status,
            "confidence": self.confidence,
            "votes": [asdict(v) for v in self.votes],
            "samples": [s.to_dict() for s in self.samples],
            "timing_ms": self.timing.to_dict(),
            "model": self.model,
        }
