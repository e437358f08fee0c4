"""Request and response bodies of /solve (the OpenAPI schema at /docs comes from these)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.tir.solver import SolveRequest

__all__ = [
    "BODY_ERRORS",
    "ErrorBody",
    "ErrorDetail",
    "SampleOut",
    "SolveBody",
    "SolveResponse",
    "StepOut",
    "TimingOut",
    "UsageOut",
    "VoteOut",
]


class SolveBody(BaseModel):
    """A math problem to solve. Unset fields take the service defaults (see the settings).

    Strict: every field has the JSON type the schema gives it (`"samples": "4"` or `"seed": false` is a
    422 naming the field, not a quiet conversion)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    problem: str = Field(..., min_length=1, max_length=20_000, description="The problem statement.")
    mode: Literal["tir", "cot"] = Field("tir", description="`tir`: reason with Python; `cot`: prose only.")
    samples: int = Field(1, ge=1, le=32, description="Trajectories to run and vote over (self-consistency).")
    max_rounds: int | None = Field(None, ge=0, le=16, description="Code executions allowed per trajectory.")
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    seed: int | None = Field(None, ge=0, le=2**31 - 1, description="Base seed; sample i uses seed + i.")
    max_tokens: int | None = Field(None, ge=1, le=32_768, description="New tokens per model call.")
    system_prompt: str | None = Field(
        None, max_length=4_000, description="Replaces the mode's system prompt."
    )
    stream: bool = Field(False, description="Send Server-Sent Events while the trajectories grow.")

    @field_validator("problem")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("problem must contain more than whitespace")
        return value

    def to_request(self) -> SolveRequest:
        return SolveRequest(
            problem=self.problem,
            mode=self.mode,
            samples=self.samples,
            max_rounds=self.max_rounds,
            temperature=self.temperature,
            top_p=self.top_p,
            seed=self.seed,
            max_tokens=self.max_tokens,
            system_prompt=self.system_prompt,
        )


class StepOut(BaseModel):
    type: Literal["text", "code", "output"]
    content: str
    status: str | None = Field(None, description="Output steps: ok|error|timeout|memory|output_limit|killed.")
    duration_ms: float | None = Field(None, description="Output steps: execution time.")
    truncated: bool | None = Field(None, description="Output steps: cut head and tail before feeding back.")


class UsageOut(BaseModel):
    prompt_tokens: int = Field(description="Prompt size of the last model call.")
    completion_tokens: int = Field(description="New tokens, summed over the model calls.")
    calls: int = Field(description="Model calls made (one per round).")
    cached_prompt_tokens: int = Field(
        0, description="Prompt tokens the model server served from its prefix cache, summed over calls."
    )


class TimingOut(BaseModel):
    total: float
    llm: float
    sandbox: float


class SampleOut(BaseModel):
    answer: str | None
    finish: Literal["answered", "max_rounds", "length", "stop_no_answer", "error"]
    seed: int
    rounds: int
    answer_after_error: bool = Field(description="The answer came right after a failed code execution.")
    error: str | None
    steps: list[StepOut]
    usage: UsageOut
    timing_ms: TimingOut


class VoteOut(BaseModel):
    answer: str
    count: int


class SolveResponse(BaseModel):
    answer: str | None
    status: Literal["answered", "no_answer"]
    confidence: float = Field(description="Share of samples that voted for `answer`.")
    votes: list[VoteOut]
    samples: list[SampleOut]
    timing_ms: TimingOut = Field(description="`total` is wall clock; `llm` and `sandbox` sum over samples.")
    model: str


class ErrorDetail(BaseModel):
    code: str = Field(description="e.g. model_unavailable, model_timeout, deadline_exceeded, body_too_large")
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


# What any route with a JSON body may answer before the route runs (body_limit.py, errors.py).
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body is not JSON (`invalid_json`), e.g. not UTF-8."},
    408: {"model": ErrorBody, "description": "The body did not arrive in time (`body_timeout`)."},
    413: {"model": ErrorBody, "description": "The body is too large (`body_too_large`)."},
    415: {"model": ErrorBody, "description": "The body is not sent as `application/json`."},
}
