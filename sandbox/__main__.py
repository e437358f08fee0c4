"""Command line: ``python -m sandbox serve --socket PATH | probe | run FILE|-``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from dataclasses import fields

from .client import Sandbox, insecure_from_env
from .errors import SandboxError
from .limits import DEFAULT_LIMITS, Limits
from .pool import UidRange
from .probe import LAYERS
from .server import ServerOptions, probe, serve


def _add_server_flags(parser: argparse.ArgumentParser) -> None:
    for f in fields(Limits):
        default = getattr(DEFAULT_LIMITS, f.name)
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(default), default=default)
    parser.add_argument(
        "--pool-size",
        "--workers",
        dest="pool_size",
        type=int,
        default=max(2, 2 * (os.cpu_count() or 1)),
        help="confined children kept ready (default: 2 per core)",
    )
    parser.add_argument("--uid-base", type=int, default=UidRange.base, help="first uid of the sandbox range")
    parser.add_argument("--uid-count", type=int, default=UidRange.count, help="number of sandbox uids")
    parser.add_argument(
        "--allow-insecure",
        action="store_true",
        default=insecure_from_env(),
        help="serve even if a required layer is missing (also SANDBOX_ALLOW_INSECURE=1)",
    )
    parser.add_argument(
        "--simulate-missing",
        action="append",
        default=[],
        choices=sorted(set(LAYERS) - {"filesystem"}),  # derived from two layers, not probed itself
        metavar="LAYER",
        help="testing aid: treat LAYER as unavailable, as if the probe had failed",
    )


def _options(args: argparse.Namespace, socket_path: str = "") -> ServerOptions:
    limits = Limits(**{f.name: getattr(args, f.name) for f in fields(Limits)})
    return ServerOptions(
        socket_path=socket_path,
        limits=limits,
        pool_size=args.pool_size,
        uids=UidRange(args.uid_base, args.uid_count),
        allow_insecure=args.allow_insecure,
        simulate_missing=frozenset(args.simulate_missing),
        parent_pid=getattr(args, "parent_pid", None),
        socket_uid=getattr(args, "socket_uid", None),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="serve requests on a Unix socket")
    p_serve.add_argument("--socket", required=True, help="path of the Unix socket (created with mode 0600)")
    p_serve.add_argument(
        "--parent-pid", type=int, default=None, help="exit when this parent process goes away"
    )
    p_serve.add_argument(
        "--socket-uid", type=int, default=None, help="chown the socket to this uid (mode 0600)"
    )
    _add_server_flags(p_serve)
    p_probe = sub.add_parser("probe", help="print the JSON report of which layers hold")
    p_probe.add_argument("--socket", default=None, help="ask the server on this socket (a health check)")
    _add_server_flags(p_probe)
    p_run = sub.add_parser("run", help="run a file (or - for stdin) and print the result as JSON")
    p_run.add_argument("file")
    p_run.add_argument("--timeout", type=float, default=None)
    p_run.add_argument("--socket", default=None, help="use a running server instead of starting one")
    p_run.add_argument("--allow-insecure", action="store_true", default=insecure_from_env())
    args = parser.parse_args(argv)
    if args.command in ("serve", "probe"):
        try:
            Limits(**{f.name: getattr(args, f.name) for f in fields(Limits)})
        except ValueError as exc:
            parser.error(str(exc))

    if args.command == "serve":
        return serve(_options(args, args.socket))
    if args.command == "probe":
        report = asyncio.run(_remote_probe(args.socket)) if args.socket else probe(_options(args))
        print(json.dumps(report, indent=2))
        serving = report["safe"] or (args.socket and report.get("serving_insecurely"))
        return 0 if serving and "error" not in report else 1
    try:
        code = _read_code(args.file)
        result = asyncio.run(_run(code, args))
    except (OSError, UnicodeDecodeError, SandboxError) as exc:  # no traceback for a bad file or timeout
        print(f"python -m sandbox run: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(BrokenPipeError):  # `... | head` closed the pipe: not an error of ours
        print(json.dumps(result.to_dict(), indent=2), flush=True)
    return 0 if result.ok else 1


def _read_code(file: str) -> str:
    """The code to run: UTF-8 from `file`, or from standard input for ``-``."""
    if file == "-":
        return sys.stdin.buffer.read().decode("utf-8")
    with open(file, encoding="utf-8") as source:
        return source.read()


async def _remote_probe(socket_path: str) -> dict:
    """The report of a running server, after one real run (what a container health check needs)."""
    try:
        async with Sandbox(socket_path) as sb:
            result = await sb.run("print(1 + 1)", timeout=5)
            report = await sb.probe()
    except SandboxError as exc:
        return {"safe": False, "error": str(exc)}
    if result.stdout != "2\n":
        report["safe"] = False
        report["error"] = f"test run ended with status {result.status}"
    return report


async def _run(code: str, args: argparse.Namespace):
    async with Sandbox(args.socket, allow_insecure=args.allow_insecure) as sb:
        return await sb.run(code, timeout=args.timeout)


if __name__ == "__main__":
    sys.exit(main())
