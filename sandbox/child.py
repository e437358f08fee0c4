"""The confined child: confines itself right after fork, then executes code blocks sent by the server.

Runs in a forked copy of the server (sympy already imported and warm), talks to the server over one
inherited socket (fd 3) with length-prefixed JSON frames, and writes stdout/stderr to memfds on fds 1
and 2 that the server reads back. Never returns: it leaves with ``os._exit``.
"""

from __future__ import annotations

import builtins
import io
import linecache
import os
import resource
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, NoReturn

from . import confine
from .capture import reset_stream
from .limits import MiB, Limits
from .paths import PathScrubber
from .protocol import read_frame_fd, write_frame_fd
from .seccomp import CompiledFilter

CTRL_FD = 3


@dataclass(frozen=True)
class ChildPlan:
    """Everything a child needs to confine itself; built once by the server."""

    limits: Limits
    as_bytes: int
    scrubber: PathScrubber
    view: confine.RootView | None = None
    seccomp: CompiledFilter | None = None
    switch_uid: bool = True
    disabled: frozenset[str] = field(default_factory=frozenset)


def child_main(plan: ChildPlan, uid: int, session: bool, ctrl: int, out: int, err: int, workdir: str | None) -> NoReturn:
    code = 70
    try:
        _reset_process_state(ctrl, out, err)
        layers = _confine(plan, uid, session, workdir)
        write_frame_fd(CTRL_FD, {"ready": True, "layers": layers})
        _serve(plan, session)
        code = 0
    except BaseException as exc:  # anything escaping here must still end in os._exit
        try:
            write_frame_fd(CTRL_FD, {"ready": False, "fatal": f"{type(exc).__name__}: {exc}"})
        except BaseException:
            pass
    finally:
        os._exit(code)


def _reset_process_state(ctrl: int, out: int, err: int) -> None:
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past RLIMIT_FSIZE raise EFBIG instead
    os.setsid()
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.dup2(ctrl, CTRL_FD)
    # Nothing else of the server (listening socket, other clients, other children) stays reachable.
    os.closerange(CTRL_FD + 1, 1 << 20)


def _confine(plan: ChildPlan, uid: int, session: bool, workdir: str | None) -> dict[str, str]:
    layers: dict[str, str] = {}
    lim = plan.limits
    cpu_hard = int(lim.session_total) + 1 if session else lim.cpu_seconds + 1

    def step(name: str, action: Any) -> None:
        if name in plan.disabled:
            layers[name] = "unavailable: disabled (--simulate-missing)"
            return
        try:
            action()
            layers[name] = "ok"
        except OSError as exc:
            layers[name] = f"unavailable: {exc}"

    if plan.view is not None:
        step("mount_namespace", lambda: confine.enter_private_tmp(plan.view, uid, lim.tmp_size_mb))
    else:
        layers["mount_namespace"] = "unavailable: no filesystem view in the server"
    if layers["mount_namespace"] != "ok" and workdir:
        os.chdir(workdir)
    step(
        "rlimits",
        lambda: confine.set_rlimits(
            as_bytes=plan.as_bytes,
            cpu_soft=lim.cpu_seconds,
            cpu_hard=cpu_hard,
            fsize=lim.file_size_mb * MiB,
            nofile=lim.open_files,
            nproc=lim.processes,
        ),
    )
    if plan.switch_uid:
        step("uid", lambda: confine.drop_to_uid(uid))
    else:
        layers["uid"] = "unavailable: uid switching is off"
    if plan.seccomp is not None:
        step("seccomp", plan.seccomp.load)
    else:
        layers["seccomp"] = "unavailable: no compiled filter"
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = _stream(1)
    sys.stderr = _stream(2)
    return layers


def _stream(fd: int) -> io.TextIOWrapper:
    raw = io.FileIO(fd, "w", closefd=False)
    return io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace", line_buffering=True)


def _serve(plan: ChildPlan, session: bool) -> None:
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    cell = 0
    while True:
        try:
            request = read_frame_fd(CTRL_FD)
        except EOFError:
            return
        cell += 1
        name = "<cell>" if cell == 1 else f"<cell-{cell}>"
        if session:
            _renew_cpu_budget(plan.limits.cpu_seconds)
        reply = execute(str(request.get("code", "")), namespace, name, plan.scrubber)
        write_frame_fd(CTRL_FD, reply)
        if not session:
            return


def _renew_cpu_budget(seconds: int) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = int(usage.ru_utime + usage.ru_stime) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (min(used + seconds, hard), hard))
    except (ValueError, OSError):
        pass


def execute(code: str, namespace: dict[str, Any], name: str, scrubber: PathScrubber) -> dict[str, Any]:
    """Run one block in ``namespace``; stdout only, like the ToRA and Qwen2.5-Math executors."""
    for fd in (1, 2):
        reset_stream(fd)
    start = time.perf_counter()
    status, error = "ok", ""
    try:
        compiled = compile(code, name, "exec")
        linecache.cache[name] = (len(code), None, code.splitlines(True), name)
        exec(compiled, namespace)
    except MemoryError as exc:
        status, error = "memory", _format(exc, scrubber) or "MemoryError"
    except SystemExit as exc:
        if exc.code not in (None, 0):
            status, error = "error", f"SystemExit: {exc.code}"
    except BaseException as exc:
        status, error = "error", _format(exc, scrubber)
    duration_ms = (time.perf_counter() - start) * 1000
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    return {"status": status, "error": error, "duration_ms": duration_ms}


def _format(exc: BaseException, scrubber: PathScrubber) -> str:
    try:
        tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
        text = "".join(traceback.format_exception(type(exc), exc, tb))
    except BaseException:
        text = f"{type(exc).__name__}: {exc}"
    return scrubber.scrub(text)
