"""The FastAPI application: `create_app()` wires settings, model client, sandbox and solver."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from app import __version__
from app.api.body_limit import BodySizeLimit
from app.api.errors import install_error_handlers
from app.api.middleware import AccessObserver, AdmissionControl, AdmissionGate, ApiKeyAuth, RequestId
from app.api.routes import health, homework, metrics, solve, web
from app.api.sandbox_link import open_sandbox
from app.config import Settings, get_settings
from app.grading import CheckerPool
from app.observability import MeteredModelClient
from app.tir.loop import LoopLimits, SessionFactory
from app.tir.model_client import ModelClient, SamplingParams
from app.tir.recorder import TrajectoryRecorder
from app.tir.solver import Solver
from app.tir.voting import Equivalence, normalized_equivalent

__all__ = ["build_model_client", "build_solver", "create_app"]


def build_model_client(settings: Settings) -> ModelClient:
    return MeteredModelClient(
        settings.model_base_url,
        settings.model_name,
        api_key=settings.api_key.get_secret_value() if settings.api_key else None,
        mode=settings.api_mode,
        stream=settings.stream_from_model,
        connect_timeout=settings.model_connect_timeout_s,
        read_timeout=settings.model_read_timeout_s,
        retries=settings.model_retries,
        backoff=settings.model_retry_backoff_s,
        max_backoff=settings.model_retry_max_backoff_s,
        max_connections=settings.max_concurrent_trajectories + 8,
    )


def build_solver(
    settings: Settings,
    client: ModelClient,
    sessions: SessionFactory,
    equivalent: Equivalence = normalized_equivalent,
) -> Solver:
    """The solver from settings; `equivalent` groups answers for voting (the grading checker fits here)."""
    return Solver(
        client,
        sessions,
        limits=LoopLimits(
            max_rounds=settings.max_rounds,
            context_length=settings.context_length,
            output_max_chars=settings.output_max_chars,
            traceback_lines=settings.traceback_lines,
            exec_timeout_s=settings.sandbox_timeout_s,
        ),
        defaults=SamplingParams(
            temperature=settings.temperature,
            top_p=settings.top_p,
            max_tokens=settings.max_tokens,
            seed=settings.seed,
        ),
        deadline_s=settings.request_deadline_s,
        max_concurrent=settings.max_concurrent_trajectories,
        equivalent=equivalent,
        recorder=TrajectoryRecorder(settings.trajectory_log) if settings.trajectory_log else None,
    )


def create_app(settings: Settings | None = None, *, body_timeout_s: float = 60.0) -> FastAPI:
    """The service. Include further routers below (one line each). A request body must arrive within
    `body_timeout_s` (4 MiB at 70 KB/s): a trickling client never holds its connection for ever."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            client = await stack.enter_async_context(build_model_client(settings))
            sessions, probe = await open_sandbox(settings, stack)
            # One checker pool grades homework and groups the self-consistency votes by equivalence.
            checker = await stack.enter_async_context(
                CheckerPool(
                    workers=settings.checker_workers,
                    timeout=settings.checker_timeout_s,
                    memory_limit_mb=settings.checker_memory_mb,
                )
            )
            app.state.model_client = client
            app.state.sandbox_probe = probe
            app.state.checker_pool = checker
            app.state.solver = build_solver(settings, client, sessions, equivalent=checker.equivalent)
            yield

    app = FastAPI(
        title="tirsolve",
        version=__version__,
        summary="Tool-integrated reasoning math solver for Qwen2.5-Math",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.draining = False  # set on SIGTERM (see app.api.server): /readyz then answers 503 `draining`
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(solve.router)
    app.include_router(homework.router)
    app.include_router(web.router)
    app.include_router(metrics.router)
    # Innermost first. Outermost: request id, then metrics and access log, so every answer is counted.
    gate = AdmissionGate(settings.max_active_solves, settings.max_queued_solves, settings.queue_timeout_s)
    app.add_middleware(AdmissionControl, gate=gate, routes=frozenset({("POST", "/solve")}))
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        routes={("POST", "/homework"): settings.max_homework_body_bytes},
        timeout=body_timeout_s,
    )
    app.add_middleware(ApiKeyAuth, keys=[k.get_secret_value() for k in settings.api_keys])
    app.add_middleware(AccessObserver, access_log=settings.access_log)
    app.add_middleware(RequestId)
    app.state.admission = gate
    _publish_own_limits(app, settings)
    return app


def _publish_own_limits(app: FastAPI, settings: Settings) -> None:
    """The OpenAPI schema states this service's `max_samples`, not the model's 32: a client generated
    from it, or a fuzzer, must not learn that a request the service refuses is valid."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI builds it once and keeps it
        samples = schema["components"]["schemas"]["SolveBody"]["properties"]["samples"]
        samples["maximum"] = settings.max_samples
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
