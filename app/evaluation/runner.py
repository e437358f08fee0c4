"""Running an evaluation: solve each problem (a bounded number at a time), score it, record it at once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from app.evaluation.backends import Backend, SolveFailure
from app.evaluation.dataset import EvalItem
from app.evaluation.results import ResultsFile
from app.grading import CheckerPool, Verdict

__all__ = ["evaluate", "score"]

log = logging.getLogger(__name__)

_NO_ANSWER = Verdict(False, "no_answer", "the model gave no final answer")


async def score(checker: CheckerPool, reference: str, answer: str | None) -> Verdict:
    """The grading checker's verdict, bounded in time by its pool (a `timeout` verdict past the bound)."""
    if answer is None:
        return _NO_ANSWER
    return await checker.check(reference, answer)


def _base(item: EvalItem) -> dict[str, Any]:
    record: dict[str, Any] = {"id": item.id, "line": item.line, "problem": item.problem}
    if item.subject is not None:
        record["subject"] = item.subject
    if item.level is not None:
        record["level"] = item.level
    record["reference"] = item.reference
    return record


def _solved(body: dict[str, Any], verdict: Verdict) -> dict[str, Any]:
    samples = body.get("samples") or []
    return {
        "answer": body.get("answer"),
        "correct": verdict.equivalent,
        "verdict": verdict.to_dict(),
        "status": body.get("status"),
        "confidence": body.get("confidence"),
        "finish": [s.get("finish") for s in samples if isinstance(s, dict)],
        "timing_ms": body.get("timing_ms"),
        "error": None,
    }


def _failed(kind: str, message: str, status: int | None) -> dict[str, Any]:
    return {
        "answer": None,
        "correct": False,
        "verdict": None,
        "status": "error",
        "confidence": None,
        "finish": [],
        "timing_ms": None,
        "error": {"kind": kind, "message": message, "status": status},
    }


async def _one(item: EvalItem, backend: Backend, checker: CheckerPool) -> dict[str, Any]:
    """The record of one problem; `latency_ms` is the solve alone (retries included), `check_ms` the check."""
    started = time.perf_counter()
    attempts, check_ms = 1, None
    try:
        body, attempts = await backend.solve(item.problem)
        latency_ms = _ms_since(started)
        checked = time.perf_counter()
        outcome = _solved(body, await score(checker, item.reference, body.get("answer")))
        check_ms = _ms_since(checked)
    except SolveFailure as exc:
        latency_ms, attempts = _ms_since(started), exc.attempts
        outcome = _failed(exc.kind, exc.message, exc.status)
    except Exception as exc:  # a surprise on one problem is recorded; the other problems still run
        log.exception("problem %s failed unexpectedly", item.id)
        latency_ms = _ms_since(started)
        outcome = _failed("unexpected", f"{type(exc).__name__}: {exc}", None)
    return _base(item) | outcome | {"latency_ms": latency_ms, "check_ms": check_ms, "attempts": attempts}


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


async def evaluate(
    items: Iterable[EvalItem],
    backend: Backend,
    checker: CheckerPool,
    results: ResultsFile,
    *,
    concurrency: int,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Solve and score `items`, `concurrency` at a time; each record is appended to `results` when done."""
    pending = iter(items)
    done: list[dict[str, Any]] = []

    async def worker() -> None:
        for item in pending:  # one shared iterator: each item goes to exactly one worker
            record = await _one(item, backend, checker)
            results.append(record)
            done.append(record)
            if on_done is not None:
                on_done(record)

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    return done
