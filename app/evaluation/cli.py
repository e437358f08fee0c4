"""The `tirsolve eval` subcommand (registered in `app.cli`): accuracy of the model on a JSONL problem set.

Imports of the heavy parts are inside the functions so `tirsolve --help` stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

__all__ = ["cmd_eval", "eval_args"]

DEFAULT_SERVICE = "http://127.0.0.1:8080"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "dataset", type=Path, help="JSONL problems: MATH-500, GSM8K or {id, problem, answer} lines"
    )
    p.add_argument("--out", type=Path, required=True, help="results JSONL; rerun with it to resume")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--service", default=DEFAULT_SERVICE, help=f"service URL (default {DEFAULT_SERVICE})")
    where.add_argument(
        "--in-process",
        action="store_true",
        help="solve here with the TIRSOLVE_* settings, as `tirsolve solve`",
    )
    p.add_argument("--api-key", help="the service's API key, if it needs one")
    p.add_argument("--samples", type=_positive, default=1, help="trajectories voted over per problem")
    p.add_argument("--mode", choices=["tir", "cot"], default="tir")
    p.add_argument("--concurrency", type=_positive, default=8, help="problems solved at a time (default 8)")
    p.add_argument("--limit", type=_positive, help="only the first N problems")
    p.add_argument("--retries", type=int, default=3, help="retries of a 429 or 503 per problem (default 3)")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for one solve (default 900)")
    p.add_argument(
        "--retry-errors", action="store_true", help="on resume, solve again the problems that errored"
    )
    p.add_argument("--problem-field", help="field holding the problem (default: problem or question)")
    p.add_argument(
        "--answer-field", help="field holding the reference answer (default: answer, gt, solution)"
    )
    p.add_argument(
        "--id-field", help="field holding the id (default: unique_id, id, idx; else the line number)"
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout (text on stderr)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def cmd_eval(args: argparse.Namespace) -> int:
    """Solve every problem of a JSONL set, score each answer with the grading checker, write one result
    line per problem as it finishes (a rerun skips the ids done), and print accuracy, errors and latency.
    Exit 0 when every problem has a result, 1 when some errored, 2 when the run cannot start."""
    from app.evaluation.dataset import DatasetError, read_dataset
    from app.evaluation.results import ResultsError, ResultsFile

    try:
        items, fields = read_dataset(
            args.dataset,
            problem_field=args.problem_field,
            answer_field=args.answer_field,
            id_field=args.id_field,
            limit=args.limit,
        )
        results = ResultsFile(args.out)
        previous = results.load()
    except (DatasetError, ResultsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if results.dropped_partial_line:
        print(f"dropped a partial last line of {args.out} (a run killed mid-write)", file=sys.stderr)
    todo = [i for i in items if i.id not in previous or (args.retry_errors and previous[i.id].get("error"))]
    skipped = len(items) - len(todo)
    id_source = f"ids from '{fields.id}'" if fields.id else "ids are line numbers"
    print(
        f"{args.dataset}: {len(items)} problems, {fields.shape} shape "
        f"('{fields.problem}' -> '{fields.answer}', {id_source}); "
        f"skipping {skipped} already in {args.out}, solving {len(todo)}",
        file=sys.stderr,
    )
    try:
        ran, wall_s = asyncio.run(_run(args, todo, results))
    except KeyboardInterrupt:
        print(
            f"\ninterrupted; the results so far are in {args.out}: rerun the same command to resume",
            file=sys.stderr,
        )
        return 130
    except _CannotStart as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        results.close()
    return _report(args, items, fields.shape, results.load(), skipped, ran, wall_s)


class _CannotStart(RuntimeError):
    """The service, sandbox or checker is not there: nothing was solved."""


def _report(
    args: argparse.Namespace,
    items: list[Any],
    shape: str,
    records: dict[str, dict[str, Any]],
    skipped: int,
    ran: list[dict[str, Any]],
    wall_s: float,
) -> int:
    from app.evaluation.summary import render_summary, summarize

    summary = summarize(
        items, records, shape=shape, skipped=skipped, ran=ran, wall_s=wall_s, concurrency=args.concurrency
    )
    text = render_summary(summary)
    if args.json:
        print(text, file=sys.stderr)
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        print(text)
    return 1 if summary["errors"] else 0


async def _run(args: argparse.Namespace, todo: list[Any], results: Any) -> tuple[list[dict[str, Any]], float]:
    from tqdm import tqdm

    from app.evaluation.runner import evaluate

    if not todo:
        return [], 0.0
    async with _backend_and_checker(args) as (backend, checker):
        started = time.perf_counter()  # throughput counts solving and checking, not starting the workers
        with tqdm(total=len(todo), unit="problem", disable=args.no_progress, file=sys.stderr) as bar:
            ran = await evaluate(
                todo,
                backend,
                checker,
                results,
                concurrency=args.concurrency,
                on_done=lambda record: bar.update(1),
            )
    return ran, time.perf_counter() - started


@contextlib.asynccontextmanager
async def _backend_and_checker(args: argparse.Namespace) -> AsyncIterator[tuple[Any, Any]]:
    """The grading checker (bounded time per check, from the settings) and the solving backend."""
    from app.config import InvalidSettings, get_settings
    from app.evaluation.backends import InProcessBackend, ServiceBackend, ServiceUnreachable, SolveOptions
    from app.grading import CheckerPool
    from app.tir.errors import SolveError

    try:
        settings = get_settings()
    except InvalidSettings as exc:
        raise _CannotStart(str(exc)) from None
    options = SolveOptions(samples=args.samples, mode=args.mode)
    checker = CheckerPool(
        settings.checker_workers, settings.checker_timeout_s, memory_limit_mb=settings.checker_memory_mb
    )
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(checker.close)
        try:
            if args.in_process:
                backend = await stack.enter_async_context(InProcessBackend.open(options, checker))
            else:
                backend = await stack.enter_async_context(
                    ServiceBackend.open(
                        args.service.rstrip("/"),
                        options,
                        concurrency=args.concurrency,
                        timeout_s=args.timeout,
                        retries=max(0, args.retries),
                        api_key=args.api_key,
                    )
                )
        except (ServiceUnreachable, SolveError) as exc:
            raise _CannotStart(str(exc)) from None
        # Started before the first solve: starting the forkserver blocks the event loop (sympy is imported
        # there), which would add seconds to the latency of the solves in flight.
        await checker.start()
        yield backend, checker
