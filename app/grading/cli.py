"""The `tirsolve check` and `tirsolve grade` subcommands (registered in `app.cli`).

Imports are inside the functions so `tirsolve --help` stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["check_args", "cmd_check", "cmd_grade", "grade_args"]


def check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("reference", help="reference answer (or a worked solution ending in \\boxed{})")
    p.add_argument("answer", help="the answer to grade (bare, or a worked solution)")
    p.add_argument("--strict", action="store_true", help="accept only answers in simplest form")
    p.add_argument("--timeout", type=float, help="seconds before the check is stopped (default: setting)")


def cmd_check(args: argparse.Namespace) -> int:
    """Check one answer against a reference; print the verdict as JSON (exit 0 equal, 1 not equal)."""
    from app.config import get_settings
    from app.grading import CheckerPool

    settings = get_settings()

    async def run() -> Any:
        timeout = args.timeout or settings.checker_timeout_s
        async with CheckerPool(
            workers=1, timeout=timeout, memory_limit_mb=settings.checker_memory_mb
        ) as pool:
            return await pool.check(args.reference, args.answer, args.strict)

    verdict = asyncio.run(run())
    print(json.dumps(verdict.to_dict(), ensure_ascii=False, indent=2))
    return 0 if verdict.equivalent else 1


def grade_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="homework set: .json (whole set), or problems as .csv/.jsonl")
    p.add_argument("--submissions", type=Path, help="submissions file (.csv/.jsonl/.json)")
    p.add_argument("--out", type=Path, help="write the report here; the suffix picks the format")
    p.add_argument("--format", choices=["json", "csv", "html"], help="report format (default: from --out)")
    p.add_argument("--strict", action="store_true", default=None, help="accept only simplest forms")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def cmd_grade(args: argparse.Namespace) -> int:
    """Grade a homework set from files with a progress bar; write or print the report."""
    from app.grading import HomeworkFileError, load_homework

    try:
        homework = load_homework(args.file, args.submissions, strict=args.strict)
    except HomeworkFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    fmt = args.format or (args.out.suffix.lstrip(".").lower() if args.out else "json")
    if fmt not in ("json", "csv", "html"):
        print(f"error: --out {args.out}: use a .json, .csv or .html file (or --format)", file=sys.stderr)
        return 2
    text = asyncio.run(_grade(homework, fmt, progress=not args.no_progress))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        print(f"report written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


async def _grade(homework: Any, fmt: str, *, progress: bool) -> str:
    from tqdm import tqdm

    from app.config import get_settings
    from app.grading import CheckerPool, HomeworkRunner, SqliteJobStore, build_report, render_report

    settings = get_settings()
    store = SqliteJobStore(":memory:")
    async with contextlib.AsyncExitStack() as stack:
        pool = await stack.enter_async_context(
            CheckerPool(
                settings.checker_workers,
                settings.checker_timeout_s,
                memory_limit_mb=settings.checker_memory_mb,
            )
        )
        keyer = None
        if any(p.reference is None for p in homework.problems):
            keyer = await _open_keyer(settings, stack)
        runner = HomeworkRunner(store, pool, keyer, review_threshold=settings.review_threshold)
        info = await runner.submit(homework)
        total = info.progress.submissions_total
        with tqdm(total=total, unit="answer", disable=not progress, file=sys.stderr) as bar:
            waiter = asyncio.ensure_future(runner.wait(info.id))
            while not waiter.done():
                await asyncio.wait([waiter], timeout=0.2)
                current = store.info(info.id)
                if current is not None:
                    bar.update(current.progress.submissions_checked - bar.n)
            await waiter
    report = build_report(store, info.id)
    store.close()
    assert report is not None
    return render_report(report, fmt)  # type: ignore[arg-type]


async def _open_keyer(settings: Any, stack: contextlib.AsyncExitStack) -> Any:
    """The TIR solver for problems without a reference (None, with a warning, if it cannot start)."""
    from app.api.app import build_model_client, build_solver
    from app.api.sandbox_link import open_sandbox
    from app.grading import solver_keyer

    try:
        client = await stack.enter_async_context(build_model_client(settings))
        sessions, _ = await open_sandbox(settings, stack)
    except Exception as exc:
        print(f"warning: cannot start the solver ({exc}); unkeyed problems need review", file=sys.stderr)
        return None
    return solver_keyer(build_solver(settings, client, sessions), settings.key_samples)
