"""`tirsolve` command line: one function per subcommand, registered in `SUBCOMMANDS`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

from app.evaluation.cli import cmd_eval, eval_args
from app.grading.cli import check_args, cmd_check, cmd_grade, grade_args

__all__ = ["SUBCOMMANDS", "build_parser", "main"]


def _root_path(text: str) -> str:
    from app.config import normalize_root_path

    try:
        return normalize_root_path(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="interface to bind (default: TIRSOLVE_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: TIRSOLVE_PORT or 8080)")
    p.add_argument(
        "--root-path",
        type=_root_path,
        help="path prefix behind a proxy that strips it (default: TIRSOLVE_ROOT_PATH or none)",
    )
    p.add_argument("--log-level", default="info", help="uvicorn log level")


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the HTTP service; settings come from the environment (TIRSOLVE_*)."""
    import uvicorn

    from app.api.app import create_app
    from app.api.server import DrainingServer
    from app.config import get_settings
    from app.observability import log_config

    settings = get_settings()
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=args.host or settings.host,
        port=settings.port if args.port is None else args.port,
        # behind a proxy that strips the prefix: uvicorn puts it back in front of every path, as ASGI wants
        root_path=settings.root_path if args.root_path is None else args.root_path,
        log_level=args.log_level,
        log_config=log_config(args.log_level),  # JSON lines, request ids
        access_log=False,  # our access log replaces uvicorn's (it has no query strings, no keys)
        timeout_graceful_shutdown=settings.shutdown_grace_s,
    )
    DrainingServer(config, app, drain_s=settings.shutdown_drain_s).run()
    return 0


def _solve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("problem", help="the problem statement")
    p.add_argument("--mode", choices=["tir", "cot"], default="tir")
    p.add_argument("--samples", type=int, default=1)
    p.add_argument("--max-rounds", type=int)
    p.add_argument("--temperature", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--trace", action="store_true", help="print every step of every sample")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")


def print_trace(result: dict) -> None:
    """Human-readable steps of every sample (used by `solve --trace` and the demo)."""
    for i, sample in enumerate(result["samples"]):
        print(f"--- sample {i} (seed {sample['seed']}): finish={sample['finish']} answer={sample['answer']}")
        for step in sample["steps"]:
            if step["type"] == "text":
                print(step["content"].strip())
            elif step["type"] == "code":
                print(f"```python\n{step['content']}\n```")
            else:
                print(f"```output [{step['status']}, {step['duration_ms']:.0f} ms]\n{step['content']}\n```")


def cmd_solve(args: argparse.Namespace) -> int:
    """Solve one problem in-process against the configured model server; print the answer."""
    from app.api.app import build_model_client, build_solver
    from app.api.sandbox_link import open_sandbox
    from app.config import get_settings
    from app.grading import CheckerPool
    from app.tir.errors import SolveError
    from app.tir.solver import SolveRequest

    async def run() -> dict:
        settings = get_settings()
        async with contextlib.AsyncExitStack() as stack:
            client = await stack.enter_async_context(build_model_client(settings))
            sessions, _ = await open_sandbox(settings, stack)
            solver = build_solver(settings, client, sessions)
            if args.samples > 1:  # votes are grouped by the grading checker, as in the service
                checker = await stack.enter_async_context(
                    CheckerPool(workers=settings.checker_workers, timeout=settings.checker_timeout_s)
                )
                solver.equivalent = checker.equivalent
            req = SolveRequest(
                problem=args.problem,
                mode=args.mode,
                samples=args.samples,
                max_rounds=args.max_rounds,
                temperature=args.temperature,
                seed=args.seed,
            )
            return (await solver.solve(req)).to_dict()

    try:
        result = asyncio.run(run())
    except SolveError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    if args.trace:
        print_trace(result)
    print(result["answer"] if result["answer"] is not None else "(no answer)")
    return 0 if result["answer"] is not None else 1


def _replay_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--traces", type=Path, action="append", required=True, help="JSONL file (repeatable)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", default="replay", help="model id reported by /v1/models and in responses")
    p.add_argument("--latency-ms", type=float, default=0.0, help="delay before every response")
    p.add_argument("--chunk-delay-ms", type=float, default=0.0, help="delay between streamed chunks")
    p.add_argument("--context-length", type=int, help="refuse prompt + max_tokens beyond this (as vLLM)")
    p.add_argument("--echo-prefill", action="store_true", help="chat: repeat the prefill (as llama.cpp)")
    p.add_argument("--return-stop", action="store_true", help="include the matched ```output stop string")
    p.add_argument("--request-log", type=Path, help="append every completion request as a JSON line")
    p.add_argument("--log-level", default="warning")


def cmd_replay_llm(args: argparse.Namespace) -> int:
    """Serve recorded trajectories as an OpenAI-compatible model server."""
    import uvicorn

    from app.tir.replay import ReplayBook
    from app.tir.replay_server import ReplayOptions, create_replay_app

    try:
        book = ReplayBook.from_files(args.traces)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    options = ReplayOptions(
        model=args.model,
        latency_ms=args.latency_ms,
        chunk_delay_ms=args.chunk_delay_ms,
        context_length=args.context_length,
        echo_prefill=args.echo_prefill,
        return_stop=args.return_stop,
        request_log=args.request_log,
    )
    app = create_replay_app(book, options)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, timeout_graceful_shutdown=2)
    return 0


# name -> (handler, argument builder, help). Other parts add their subcommands here.
SUBCOMMANDS: dict[
    str, tuple[Callable[[argparse.Namespace], int], Callable[[argparse.ArgumentParser], None], str]
] = {
    "serve": (cmd_serve, _serve_args, "run the HTTP service"),
    "solve": (cmd_solve, _solve_args, "solve one problem and print the answer"),
    "replay-llm": (cmd_replay_llm, _replay_args, "serve recorded trajectories as a model server"),
    "check": (cmd_check, check_args, "check one answer against a reference; print the verdict as JSON"),
    "grade": (cmd_grade, grade_args, "grade a homework set from files; write a report"),
    "eval": (cmd_eval, eval_args, "solve a JSONL problem set, score every answer, print the accuracy"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tirsolve", description="TIR math solver for Qwen2.5-Math")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (handler, add_args, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=handler.__doc__)
        add_args(p)
        p.set_defaults(handler=handler)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
