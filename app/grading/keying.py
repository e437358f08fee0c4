"""Answer keys for problems without a reference: the TIR solver with self-consistency.

The runner takes any `KeySolver` (an async callable from problem text to `SolvedKey`), so tests and other
deployments can inject their own; `solver_keyer` adapts the service's `app.tir.solver.Solver`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.tir.solver import Solver

__all__ = ["KeySolver", "KeyUnavailable", "SolvedKey", "solver_keyer"]


class KeyUnavailable(Exception):
    """The solver could not run now (model server or sandbox unreachable, failing or slow): worth another try
    later, unlike a problem it ran on and could not answer."""


@dataclass(frozen=True, slots=True)
class SolvedKey:
    """The majority answer of N samples, its vote share, and the winning trajectory's text."""

    answer: str | None
    confidence: float
    votes: list[dict[str, object]] = field(default_factory=list)
    trace: str | None = None


KeySolver = Callable[[str], Awaitable[SolvedKey]]


def solver_keyer(solver: Solver, samples: int) -> KeySolver:
    """A `KeySolver` that runs `samples` TIR trajectories and keeps the voted answer."""
    from app.tir.errors import DeadlineExceeded, ModelRejected, ProblemTooLong, SolveError
    from app.tir.solver import SolveRequest

    async def solve(problem: str) -> SolvedKey:
        try:
            result = await solver.solve(SolveRequest(problem=problem, mode="tir", samples=samples))
        except (ModelRejected, ProblemTooLong, DeadlineExceeded):
            raise  # refused (a 4xx), too long for the context or the deadline: asking again gets the same
        except SolveError as exc:
            raise KeyUnavailable(f"{exc.code}: {exc.message}") from exc
        winner = next((s for s in result.samples if s.answer == result.answer), None)
        return SolvedKey(
            answer=result.answer,
            confidence=float(result.confidence),
            votes=[{"answer": v.answer, "count": v.count} for v in result.votes],
            trace=winner.text if winner is not None else None,
        )

    return solve
