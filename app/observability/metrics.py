"""Prometheus metric definitions of the service (default registry, so `GET /metrics` exposes them all).

Labels carry only bounded sets (route templates, status codes, finish reasons, sandbox statuses, error
codes), never raw paths or user text, so the number of series stays small whatever clients send.
Checker metrics (`tirsolve_checks_total{reason="timeout"}` and friends) live in `app.grading.metrics`.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "HOMEWORK_JOBS",
    "HOMEWORK_REJECTED",
    "HTTP_IN_PROGRESS",
    "HTTP_REQUESTS",
    "HTTP_SECONDS",
    "MODEL_CALLS",
    "MODEL_CALL_SECONDS",
    "MODEL_TOKENS",
    "SAMPLES",
    "SANDBOX_EXECUTIONS",
    "SANDBOX_SECONDS",
    "SOLVES",
    "SOLVES_ACTIVE",
    "SOLVES_QUEUED",
    "SOLVES_REJECTED",
    "SOLVE_ROUNDS",
    "SOLVE_SECONDS",
]

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

# --- HTTP -------------------------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "tirsolve_http_requests_total", "HTTP requests by method, route template and status.",
    ["method", "route", "status"],
)  # fmt: skip
HTTP_SECONDS = Histogram(
    "tirsolve_http_request_duration_seconds", "HTTP request latency (until the last body byte).",
    ["method", "route", "status"], buckets=_SECONDS,
)  # fmt: skip
HTTP_IN_PROGRESS = Gauge("tirsolve_http_requests_in_progress", "HTTP requests being served now.")

# --- admission (backpressure on /solve) -------------------------------------------------------------
SOLVES_ACTIVE = Gauge("tirsolve_solves_active", "/solve requests holding a slot.")
SOLVES_QUEUED = Gauge("tirsolve_solves_queued", "/solve requests waiting for a slot (queue depth).")
SOLVES_REJECTED = Counter(
    "tirsolve_solves_rejected_total", "/solve requests refused with 429, by reason.", ["reason"]
)

# --- solves (observed from each SolveResult) --------------------------------------------------------
SOLVES = Counter(
    "tirsolve_solves_total", "Finished solves: answered, no_answer, or the error code.", ["outcome"]
)
SOLVE_SECONDS = Histogram("tirsolve_solve_duration_seconds", "Wall time of a solve.", buckets=_SECONDS)
SOLVE_ROUNDS = Histogram(
    "tirsolve_solve_rounds", "Code executions per trajectory.", buckets=(0, 1, 2, 3, 4, 6, 8, 12, 16)
)
SAMPLES = Counter("tirsolve_samples_total", "Trajectories by finish reason.", ["finish"])
SANDBOX_EXECUTIONS = Counter(
    "tirsolve_sandbox_executions_total", "Code blocks run in the sandbox, by result status.", ["status"]
)
SANDBOX_SECONDS = Histogram(
    "tirsolve_sandbox_execution_seconds", "Execution time of one code block in the sandbox.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)  # fmt: skip

# --- model server -----------------------------------------------------------------------------------
MODEL_CALLS = Counter("tirsolve_model_calls_total", "Model calls: ok, or the error code.", ["outcome"])
MODEL_CALL_SECONDS = Histogram(
    "tirsolve_model_call_duration_seconds", "Latency of one model call (retries included).", buckets=_SECONDS
)
MODEL_TOKENS = Counter("tirsolve_model_tokens_total", "Tokens the model server reported.", ["kind"])

# --- homework ---------------------------------------------------------------------------------------
HOMEWORK_JOBS = Gauge("tirsolve_homework_jobs", "Homework jobs in the store, by state.", ["state"])
HOMEWORK_REJECTED = Counter(
    "tirsolve_homework_rejected_total", "Homework sets refused with 429: too many unfinished jobs."
)
