"""Typed failures of a solve. Each carries the HTTP status and a machine-readable code the API reports."""

from __future__ import annotations

__all__ = [
    "DeadlineExceeded",
    "ModelBadResponse",
    "ModelError",
    "ModelRejected",
    "ModelServerError",
    "ModelTimeout",
    "ModelUnavailable",
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


class ModelBadResponse(ModelError):
    """Malformed JSON, a missing field, or a response cut short."""

    code = "model_bad_response"


class ModelTimeout(ModelError):
    """The model server stopped sending bytes for longer than the read timeout."""

    status_code = 504
    code = "model_timeout"


class DeadlineExceeded(SolveError):
    """The request deadline passed before the solve finished."""

    status_code = 504
    code = "deadline_exceeded"


class SandboxUnavailable(SolveError):
    """The code sandbox could not be reached or failed outside the user's code."""

    code = "sandbox_unavailable"
