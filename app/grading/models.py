"""Homework sets and grading results: the data that crosses the API, the CLI and the job store."""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, TypeAdapter, model_validator

__all__ = [
    "MAX_ANSWER_CHARS",
    "HomeworkSet",
    "ItemVerdict",
    "JobInfo",
    "JobStatus",
    "Problem",
    "ProblemKey",
    "Progress",
    "Submission",
    "validate_set",
]

MAX_ANSWER_CHARS = 20_000
MAX_PROBLEMS = 1_000
MAX_SUBMISSIONS = 100_000

JobStatus = Literal["queued", "running", "completed", "failed", "cancelled"]


_NOT_BLANK = {"type": "string", "pattern": r"\S"}


class Problem(BaseModel):
    """One problem. Without a `reference`, the solver derives the key (and `problem` is then required)."""

    # The schema states the rule of `_needs_text_or_reference`, so clients generated from it know it too.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": ["reference"], "properties": {"reference": _NOT_BLANK}},
                {"required": ["problem"], "properties": {"problem": {"minLength": 1}}},
            ]
        },
    )

    id: str = Field(min_length=1, max_length=200, description="Unique within the set.")
    problem: str = Field("", max_length=MAX_ANSWER_CHARS, description="The problem statement.")
    reference: str | None = Field(
        None, max_length=MAX_ANSWER_CHARS, description="Reference answer or worked solution; None: solve it."
    )
    points: float = Field(1.0, ge=0, le=1_000, description="Points for a correct answer.")

    @model_validator(mode="after")
    def _needs_text_or_reference(self) -> Problem:
        if self.reference is not None and not self.reference.strip():
            self.reference = None
        if self.reference is None and not self.problem:
            raise ValueError(f"problem {self.id!r}: give a `reference` or a `problem` text to solve")
        return self


class Submission(BaseModel):
    """A student's final answer (or worked solution) to one problem."""

    model_config = ConfigDict(extra="forbid")

    student: str = Field(min_length=1, max_length=200)
    problem_id: str = Field(min_length=1, max_length=200)
    answer: str = Field("", max_length=MAX_ANSWER_CHARS, description="Empty: graded as `no_answer`.")


_EXAMPLE = {
    "title": "Warm-up",
    "problems": [
        {"id": "p1", "problem": "Solve $x^2+x-2=0$.", "reference": "1, -2", "points": 2},
        {"id": "p2", "problem": "What is 6 times 7?"},
    ],
    "submissions": [
        {"student": "ada", "problem_id": "p1", "answer": "x = -2 or x = 1"},
        {"student": "ada", "problem_id": "p2", "answer": "The answer is \\boxed{42}."},
    ],
}


class HomeworkSet(BaseModel):
    """Problems and the students' submissions. Validation errors name the offending item."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    title: str | None = Field(None, max_length=200)
    strict: StrictBool = Field(False, description="Accept only answers in simplest form (2/4 is not 1/2).")
    problems: list[Problem] = Field(min_length=1, max_length=MAX_PROBLEMS)
    submissions: list[Submission] = Field(min_length=1, max_length=MAX_SUBMISSIONS)

    @model_validator(mode="after")
    def _consistent(self) -> HomeworkSet:
        duplicated = [pid for pid, n in Counter(p.id for p in self.problems).items() if n > 1]
        if duplicated:
            raise ValueError(f"problems: duplicate problem id(s) {duplicated[:5]}")
        known = {p.id for p in self.problems}
        seen: set[tuple[str, str]] = set()
        for i, sub in enumerate(self.submissions):
            if sub.problem_id not in known:
                raise ValueError(
                    f"submissions[{i}].problem_id: {sub.problem_id!r} names no problem in the set"
                )
            pair = (sub.student, sub.problem_id)
            if pair in seen:
                raise ValueError(
                    f"submissions[{i}]: student {sub.student!r} answered {sub.problem_id!r} more than once"
                )
            seen.add(pair)
        return self


_ROWS_A_STEP = 2_000  # ~10 ms of validation
_SUBMISSIONS = TypeAdapter(list[Submission])


def validate_set(data: Any) -> HomeworkSet:
    """A set from parsed JSON, its submissions validated a slice at a time. One validation of 50,000 rows
    holds the interpreter ~0.4 s; run in a worker thread, this lets the event loop in between slices."""
    rows = data.get("submissions") if isinstance(data, dict) else None
    if isinstance(rows, list) and _ROWS_A_STEP < len(rows) <= MAX_SUBMISSIONS:
        checked: list[Submission] = []
        for start in range(0, len(rows), _ROWS_A_STEP):
            checked += _SUBMISSIONS.validate_python(rows[start : start + _ROWS_A_STEP])
        data = {**data, "submissions": checked}  # models already checked are not validated again
    return HomeworkSet.model_validate(data)


class ProblemKey(BaseModel):
    """The answer key of one problem: given, or the solver's majority answer with its vote share."""

    problem_id: str
    answer: str | None
    source: Literal["reference", "solver", "unavailable"]
    confidence: float = 1.0
    needs_review: bool = False
    votes: list[dict[str, object]] = Field(default_factory=list)
    trace: str | None = None
    error: str | None = None


class ItemVerdict(BaseModel):
    """One graded submission."""

    student: str
    problem_id: str
    answer: str
    equivalent: bool
    reason: str
    message: str = ""
    answer_parsed: str | None = None
    points: float = 0.0
    max_points: float = 1.0


class Progress(BaseModel):
    problems_total: int
    problems_keyed: int
    submissions_total: int
    submissions_checked: int


class JobInfo(BaseModel):
    """A job's state as `GET /homework/{id}` shows it."""

    id: str
    status: JobStatus
    title: str | None = None
    created_at: float
    updated_at: float
    error: str | None = None
    progress: Progress
