"""Typed failures of a solve. Each carries the HTTP status and a machine-readable code the API reports."""

from __future__ import annotations

__all__ = [
    "DeadlineExceeded",
    "ModelBadResponse",
    "ModelContextExceeded",
    "ModelError",
    "ModelRejected",
    "ModelServerError",
    "ModelTimeout",
    "ModelUnavailable",
    "ProblemTooLong",
    "SandboxUnavailable",
    "SolveError",
]


class SolveError(Exception):
    """Base class: a solve could not finish for a reason outside the caller's input."""

    status_code = 503
    code = "solve_failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ModelError(SolveError):
    """The model server could not produce a continuation."""

    code = "model_error"


class ModelUnavailable(ModelError):
    """Connection refused, reset or DNS failure, after retries."""

    code = "model_unavailable"


class ModelServerError(ModelError):
    """The model server kept answering 5xx or 429, after retries."""

    code = "model_server_error"


class ModelRejected(ModelError):
    """The model server refused the request with a 4xx other than 429 (not retried)."""

    code = "model_rejected"


class ModelContextExceeded(ModelRejected):
    """The prompt plus `max_tokens` do not fit the model's context (vLLM, SGLang, llama.cpp answer 400).

    `context_length` and `prompt_tokens` are the server's own figures when its message gives them.
    """

    def __init__(
        self, message: str, context_length: int | None = None, prompt_tokens: int | None = None
    ) -> None:
        super().__init__(message)
        self.context_length = context_length
        self.prompt_tokens = prompt_tokens

    @property
    def room(self) -> int | None:
        """New tokens the server would accept after this prompt, if it said enough to know."""
        if self.context_length is None or self.prompt_tokens is None:
            return None
        return self.context_length - self.prompt_tokens


class ModelBadResponse(ModelError):
    """Malformed JSON, a missing field, or a response cut short."""

    code = "model_bad_response"


class ModelTimeout(ModelError):
    """The model server stopped sending bytes for longer than the read timeout."""

    status_code = 504
    code = "model_timeout"


class ProblemTooLong(SolveError):
    """The caller's problem leaves the model no room in its context: no call could answer it."""

    status_code = 422
    code = "problem_too_long"


class DeadlineExceeded(SolveError):
    """The request deadline passed before the solve finished."""

    status_code = 504
    code = "deadline_exceeded"


class SandboxUnavailable(SolveError):
    """The code sandbox could not be reached or failed outside the user's code."""

    code = "sandbox_unavailable"
