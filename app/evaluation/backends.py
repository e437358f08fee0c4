"""Where problems get solved: a running service's POST /solve, or the CLI's own in-process Solver.

Both return the /solve response body as a dict, or raise `SolveFailure` with a kind to count errors by
(the service's error code, `http_<status>`, `timeout`, `connection`, `bad_response`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from app.retry_after import retry_after_seconds

__all__ = [
    "Backend",
    "InProcessBackend",
    "ServiceBackend",
    "ServiceUnreachable",
    "SolveFailure",
    "SolveOptions",
]

_RETRY_STATUSES = frozenset({429, 503})
# 503s that a retry cannot change: the model server refused this very prompt
_PERMANENT_CODES = frozenset({"model_rejected"})
_FIRST_BACKOFF_S = 1.0
_MAX_BACKOFF_S = 30.0
_MAX_RETRY_AFTER_S = 120.0  # a Retry-After beyond this is waited as this (the run must keep moving)


class SolveFailure(Exception):
    """One problem could not be solved; the run records it and goes on."""

    def __init__(self, kind: str, message: str, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.status = status
        self.attempts = attempts


class ServiceUnreachable(RuntimeError):
    """The service does not answer at all: the run stops before solving anything."""


@dataclass(frozen=True, slots=True)
class SolveOptions:
    samples: int = 1
    mode: str = "tir"


class Backend(Protocol):
    async def solve(self, problem: str) -> tuple[dict[str, Any], int]:
        """The /solve body for `problem` and the attempts it took; raises SolveFailure."""
        ...


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """The service's `{"error": {"code", "message"}}`, or `http_<status>` and the start of the body."""
    try:
        error = response.json().get("error") or {}
        return str(error["code"]), str(error.get("message", ""))
    except (ValueError, AttributeError, KeyError, TypeError):
        return f"http_{response.status_code}", response.text[:200]


class ServiceBackend:
    """POST /solve on a running service, retrying 429 and 503 (Retry-After honoured) up to `retries` times."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        options: SolveOptions,
        *,
        retries: int = 3,
        first_backoff_s: float = _FIRST_BACKOFF_S,
    ) -> None:
        self.client = client
        self.options = options
        self.retries = retries
        self.first_backoff_s = first_backoff_s

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        url: str,
        options: SolveOptions,
        *,
        concurrency: int,
        timeout_s: float,
        retries: int = 3,
        api_key: str | None = None,
    ) -> AsyncIterator[ServiceBackend]:
        """A backend on `url`; raises ServiceUnreachable if its /healthz does not answer."""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        timeout = httpx.Timeout(timeout_s, connect=10.0)
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout, limits=limits) as client:
            try:
                health = await client.get("/healthz", timeout=10.0)
            except httpx.HTTPError as exc:
                message = str(exc) or type(exc).__name__
                raise ServiceUnreachable(f"the service at {url} does not answer: {message}") from None
            if health.status_code != 200:
                raise ServiceUnreachable(
                    f"the service at {url} answered GET /healthz with {health.status_code}"
                )
            yield cls(client, options, retries=retries)

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        given = retry_after_seconds(response) if response is not None else None
        if given is not None:
            return min(given, _MAX_RETRY_AFTER_S)
        return min(self.first_backoff_s * 2**attempt, _MAX_BACKOFF_S)

    async def solve(self, problem: str) -> tuple[dict[str, Any], int]:
        body = {"problem": problem, "samples": self.options.samples, "mode": self.options.mode}
        for attempt in range(self.retries + 1):
            attempts = attempt + 1
            last = attempt == self.retries
            try:
                response = await self.client.post("/solve", json=body)
            except httpx.TimeoutException:
                raise SolveFailure("timeout", "no answer from the service in time", None, attempts) from None
            except httpx.TransportError as exc:  # the service restarting: worth a retry
                if last:
                    raise SolveFailure("connection", str(exc) or type(exc).__name__, None, attempts) from None
                await asyncio.sleep(self._delay(attempt, None))
                continue
            if response.status_code == 200:
                return _json_body(response, attempts), attempts
            kind, message = _error_of(response)
            if response.status_code in _RETRY_STATUSES and kind not in _PERMANENT_CODES and not last:
                await asyncio.sleep(self._delay(attempt, response))
                continue
            raise SolveFailure(kind, message, response.status_code, attempts)
        raise AssertionError("unreachable")


def _json_body(response: httpx.Response, attempts: int) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "answer" not in body:
        raise SolveFailure("bad_response", f"200 without a /solve body: {response.text[:200]}", 200, attempts)
    return body


class InProcessBackend:
    """The Solver `tirsolve solve` uses: model server and sandbox from the TIRSOLVE_* settings."""

    def __init__(self, solver: Any, options: SolveOptions) -> None:
        self.solver = solver
        self.options = options

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, options: SolveOptions, checker: Any) -> AsyncIterator[InProcessBackend]:
        """Raises `SolveError` if the sandbox cannot start. `checker` groups votes, as in the service."""
        from app.api.app import build_model_client, build_solver
        from app.api.sandbox_link import open_sandbox
        from app.config import get_settings

        settings = get_settings()
        async with contextlib.AsyncExitStack() as stack:
            client = await stack.enter_async_context(build_model_client(settings))
            sessions, _ = await open_sandbox(settings, stack)
            solver = build_solver(settings, client, sessions)
            if options.samples > 1:
                solver.equivalent = checker.equivalent
            yield cls(solver, options)

    async def solve(self, problem: str) -> tuple[dict[str, Any], int]:
        from app.tir.errors import SolveError
        from app.tir.solver import SolveRequest

        request = SolveRequest(problem=problem, mode=self.options.mode, samples=self.options.samples)  # type: ignore[arg-type]
        try:
            return (await self.solver.solve(request)).to_dict(), 1
        except SolveError as exc:
            raise SolveFailure(exc.code, exc.message, exc.status_code) from None
