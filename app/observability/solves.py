"""Solve-level metrics, read from the `SolveResult` the API gets back, so the TIR core stays unaware."""

from __future__ import annotations

from collections.abc import Awaitable

from app.observability.metrics import (
    SAMPLES,
    SANDBOX_EXECUTIONS,
    SANDBOX_SECONDS,
    SOLVE_ROUNDS,
    SOLVE_SECONDS,
    SOLVES,
)
from app.tir.errors import SolveError
from app.tir.trace import SolveResult

__all__ = ["observe_solve", "observed"]


def observe_solve(result: SolveResult) -> None:
    """Count the solve, each trajectory's finish and rounds, and every sandbox execution it made."""
    SOLVES.labels(result.status).inc()
    SOLVE_SECONDS.observe(result.timing.total / 1000)
    for sample in result.samples:
        SAMPLES.labels(sample.finish).inc()
        SOLVE_ROUNDS.observe(sample.rounds)
        for step in sample.steps:
            if step.type == "output":
                SANDBOX_EXECUTIONS.labels(step.status or "unknown").inc()
                SANDBOX_SECONDS.observe((step.duration_ms or 0.0) / 1000)


async def observed(solve: Awaitable[SolveResult]) -> SolveResult:
    """Await a solve and record it; a `SolveError` is counted under its code and re-raised."""
    try:
        result = await solve
    except SolveError as exc:
        SOLVES.labels(exc.code).inc()
        raise
    observe_solve(result)
    return result
