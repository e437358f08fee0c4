"""Service settings, read from the environment (prefix ``TIRSOLVE_``) or a ``.env`` file.

Every field below is one environment variable: ``model_base_url`` is ``TIRSOLVE_MODEL_BASE_URL`` and so on.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["InvalidSettings", "Settings", "get_settings", "normalize_root_path"]


def normalize_root_path(value: str) -> str:
    """An ASGI root path: empty, or an ASCII path starting with `/`, without a trailing one (`/tirsolve/` is
    `/tirsolve`). uvicorn puts it in front of every request path as it is: no query, no fragment."""
    value = value.strip().rstrip("/")
    if value and (not value.startswith("/") or not value.isascii() or any(c in value for c in "?# ")):
        raise ValueError(f"a root path is empty or an ASCII path starting with '/', not {value!r}")
    return value


class Settings(BaseSettings):
    """Configuration of the solve service; defaults suit a local vLLM serving Qwen2.5-Math-7B-Instruct."""

    model_config = SettingsConfigDict(env_prefix="TIRSOLVE_", env_file=".env", extra="ignore")

    # --- model server -------------------------------------------------------------------------------
    model_base_url: str = Field(
        "http://127.0.0.1:8000/v1",
        description="Base URL of the OpenAI-compatible model server (vLLM, SGLang, llama.cpp, replay-llm).",
    )
    model_name: str = Field(
        "Qwen/Qwen2.5-Math-7B-Instruct", description="Model name sent in every request and reported back."
    )
    api_key: SecretStr | None = Field(None, description="Bearer token for the model server, if it needs one.")
    api_mode: Literal["completions", "chat"] = Field(
        "completions",
        description="`completions`: we render the Qwen2.5 ChatML prompt ourselves (portable, prefix-cache "
        "friendly). `chat`: send the partial assistant turn with `continue_final_message` (vLLM, SGLang).",
    )
    stream_from_model: bool = Field(
        True, description="Ask the model server to stream tokens (needed for live text deltas over SSE)."
    )
    context_length: int = Field(
        4096, ge=256, description="Model context window in tokens; the trajectory stops when it is spent."
    )
    max_tokens: int = Field(
        1024, ge=1, description="Default upper bound on new tokens per model call (capped by the context)."
    )
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Default sampling temperature.")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Default nucleus sampling top_p.")
    seed: int = Field(0, description="Default base seed; sample i of a request uses seed + i.")
    model_connect_timeout_s: float = Field(5.0, gt=0, description="TCP connect timeout to the model server.")
    model_read_timeout_s: float = Field(
        60.0,
        gt=0,
        description="Longest wait for the next bytes of a model response (per read, not per call).",
    )
    model_retries: int = Field(
        3, ge=0, le=10, description="Retries after connection errors, 429 and 5xx (never other 4xx)."
    )
    model_retry_backoff_s: float = Field(
        0.5,
        ge=0,
        description="First retry delay; doubles each retry (a 429's `Retry-After` wins when given).",
    )
    model_retry_max_backoff_s: float = Field(
        8.0,
        ge=0,
        description="Cap on a single retry delay, `Retry-After` included (the deadline still rules).",
    )

    # --- the TIR loop -------------------------------------------------------------------------------
    max_rounds: int = Field(4, ge=0, le=16, description="Default number of code executions per trajectory.")
    request_deadline_s: float = Field(
        120.0,
        gt=0,
        description="Wall-clock limit for one /solve request. Samples still running then are cut (finish "
        "`error`, `deadline_exceeded`) and the answer is voted among the finished ones; HTTP 504 only when "
        "none of them has an answer (the vote gets at least 2 s).",
    )
    max_samples: int = Field(32, ge=1, le=32, description="Largest `samples` a request may ask for.")
    max_concurrent_trajectories: int = Field(
        64, ge=1, description="Trajectories running at once across all requests (the rest wait)."
    )
    output_max_chars: int = Field(
        1200,
        ge=80,
        description="Execution output fed back to the model is cut head+tail to this many chars, and further "
        "when needed to keep 256 tokens of the context free for the model's reply.",
    )
    traceback_lines: int = Field(
        4,
        ge=1,
        description="At most this many lines of a traceback go back to the model after a failed run: the "
        "exception and, before it, the innermost frame of the model's own code (line and source); library "
        "frames and `^^^` pointer lines are left out.",
    )

    # --- sandbox ------------------------------------------------------------------------------------
    sandbox_socket: str | None = Field(
        None, description="Unix socket of a running sandbox server; unset: the service starts its own."
    )
    sandbox_timeout_s: float = Field(10.0, gt=0, description="Wall-clock limit for one code block.")
    sandbox_memory_mb: int = Field(1024, ge=64, description="Memory limit for one sandboxed child.")

    # --- HTTP service -------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Interface `tirsolve serve` binds to.")
    port: int = Field(8080, ge=0, le=65535, description="Port `tirsolve serve` listens on.")
    root_path: str = Field(
        "",
        description="Path prefix the service is reached under behind a reverse proxy that strips it, e.g. "
        "`/tirsolve`; `tirsolve serve` gives it to uvicorn as the ASGI root path. Empty: none.",
    )
    max_body_bytes: int = Field(
        262_144,
        ge=1024,
        description="Larger request bodies are refused with HTTP 413 (POST /homework has its own limit).",
    )
    max_homework_body_bytes: int = Field(
        4_194_304,
        ge=1024,
        description="Larger homework sets (POST /homework bodies) are refused with HTTP 413.",
    )
    trajectory_log: Path | None = Field(
        None, description="Append every finished trajectory to this JSONL file (readable by replay-llm)."
    )

    # --- production hardening (limits, keys, shutdown) ---------------------------------------------
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Keys clients must send (`Authorization: Bearer` or `X-API-Key`); empty: no keys. "
        "Comma-separated or a JSON list. /healthz, /readyz and the API docs stay open.",
    )
    max_active_solves: int = Field(16, ge=1, description="/solve requests running at once.")
    max_queued_solves: int = Field(
        32, ge=0, description="/solve requests waiting for a slot; beyond this: HTTP 429 with Retry-After."
    )
    queue_timeout_s: float = Field(
        10.0, gt=0, description="Longest wait for a solve slot before HTTP 429 (the deadline starts after)."
    )
    shutdown_grace_s: float = Field(
        10.0, gt=0, description="On SIGTERM, in-flight requests get this long to finish before cancellation."
    )
    shutdown_drain_s: float = Field(
        0.0,
        ge=0,
        description="On SIGTERM, first keep serving this long while /readyz answers 503 `draining` (so a "
        "load balancer stops sending traffic); then the grace period starts. 0: no such phase.",
    )
    access_log: bool = Field(True, description="Write one JSON access-log line per request.")

    @field_validator("model_base_url")
    @classmethod
    def _check_model_url(cls, value: str) -> str:
        # a URL without its scheme (localhost:8000/v1) would start a service whose every solve is a 503
        if not value.startswith(("http://", "https://")) or len(value.split("://", 1)[1].strip("/")) == 0:
            raise ValueError("must be an http:// or https:// URL, such as http://127.0.0.1:8000/v1")
        return value

    @field_validator("root_path")
    @classmethod
    def _check_root_path(cls, value: str) -> str:
        return normalize_root_path(value)

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [k.strip() for k in text.split(",") if k.strip()]
        return value

    # --- grading (answer checker, homework jobs) ----------------------------------------------------
    grading_store_path: Path = Field(
        Path("var/tirsolve.sqlite3"), description="SQLite file holding homework jobs (WAL mode)."
    )
    max_unfinished_jobs: int = Field(
        16,
        ge=1,
        description="Homework jobs queued or running at once; beyond this POST /homework answers HTTP 429 "
        "with Retry-After. Jobs resumed at start count but are never refused.",
    )
    checker_timeout_s: float = Field(
        2.0, gt=0, description="A check running longer is killed with its worker: verdict `timeout`."
    )
    checker_workers: int = Field(2, ge=1, le=64, description="Checker worker processes.")
    checker_memory_mb: int = Field(2048, ge=256, description="Address-space limit of one checker worker.")
    review_threshold: float = Field(
        0.6, ge=0, le=1, description="A solver-derived key with a lower vote share is flagged `needs_review`."
    )
    key_samples: int = Field(
        4, ge=1, le=32, description="Self-consistency samples when solving a problem that has no reference."
    )


class InvalidSettings(SystemExit):
    """Settings that do not validate; exits with a message naming each variable instead of a traceback."""


def _describe(exc: ValidationError) -> str:
    secret = {name for name, f in Settings.model_fields.items() if "SecretStr" in str(f.annotation)}
    lines = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "?"
        given = "" if name in secret else f"={str(err.get('input'))[:80]!r}"  # never echo a key
        lines.append(f"  TIRSOLVE_{name.upper()}{given}: {err['msg']}")
    return "invalid settings (environment or .env):\n" + "\n".join(lines)


@lru_cache
def get_settings() -> Settings:
    """Settings from the environment, read once per process; `InvalidSettings` names what is wrong."""
    try:
        return Settings()
    except ValidationError as exc:
        raise InvalidSettings(_describe(exc)) from None
