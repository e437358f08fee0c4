"""The confined child: confines itself right after fork, then executes code blocks sent by the server.

Runs in a forked copy of the server (sympy already imported and warm), talks to the server over one
inherited socket (fd 3) with length-prefixed JSON frames, and writes stdout/stderr to memfds on fds 1
and 2 that the server reads back. Never returns: it leaves with ``os._exit``.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import linecache
import math
import os
import resource
import select
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, NoReturn

from . import confine, userns
from .capture import clip_text, reset_stream
from .landlock import FsPolicy, Ruleset
from .limits import Limits, MiB
from .paths import PathScrubber
from .protocol import read_frame_fd, write_frame_fd
from .seccomp import CompiledFilter
from .warm import PREFAULT_SNIPPETS

CTRL_FD = 3
MAX_ERROR = 256 * 1024  # characters of a traceback sent back (the server clips further to its output cap)


@dataclass(frozen=True)
class ChildPlan:
    """Everything a child needs to confine itself; built once by the server."""

    limits: Limits
    as_bytes: int
    scrubber: PathScrubber
    view: confine.RootView | None = None
    view_error: str = "no filesystem view in the server"  # why ``view`` is None
    seccomp: CompiledFilter | None = None
    fs_policy: FsPolicy | None = None  # Landlock: what a child may read, besides its own work directory
    switch_uid: bool = True
    # Not root: the server made a user namespace; children shed their capabilities instead of their uid.
    user_namespace: bool = False
    # Nice value of spare children while they confine themselves and warm up (0: none; needs
    # CAP_SYS_NICE in the server to renice a child back when a request takes it).
    background_nice: int = 0
    disabled: frozenset[str] = field(default_factory=frozenset)


def child_main(
    plan: ChildPlan,
    uid: int,
    ctrl: int,
    out: int,
    err: int,
    workdir: str | None,
    *,
    streams: StandardStreams,
    spare: bool,
    warm: bool = False,
) -> NoReturn:
    """``spare``: a pool child nobody waits for yet; it confines itself (and, if ``warm``, warms up)
    at low priority if the server can renice it back when a request arrives (CAP_SYS_NICE), so
    running requests keep the CPU first."""
    code = 70
    server_pid = os.getppid()
    try:
        confine.set_process_name(f"sandbox-{uid}")
        if spare and plan.background_nice:
            os.setpriority(os.PRIO_PROCESS, 0, plan.background_nice)
        _reset_process_state(ctrl, out, err)
        layers = _confine(plan, uid, workdir)
        sys.stdin, sys.stdout, sys.stderr = streams
        confine.die_with_parent(server_pid)  # no orphan outlives a killed server
        write_frame_fd(CTRL_FD, {"ready": True, "layers": layers})
        if warm:
            _prefault()
        _serve(plan, streams)
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
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the zygote's; it left the others at their defaults
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past RLIMIT_FSIZE raise EFBIG instead
    os.setsid()
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.dup2(ctrl, CTRL_FD)
    # Nothing else of the server (listening socket, other clients, other children) stays reachable.
    os.closerange(CTRL_FD + 1, 1 << 20)


def _confine(plan: ChildPlan, uid: int, workdir: str | None) -> dict[str, str]:
    layers: dict[str, str] = {}
    lim = plan.limits
    # Generic hard limit (a session may run many blocks); each run then sets its own budget.
    cpu_hard = int(lim.session_total) + lim.cpu_seconds + 1

    def step(name: str, action: Any) -> None:
        if name in plan.disabled:
            layers[name] = "unavailable: disabled (--simulate-missing)"
            return
        try:
            action()
            layers[name] = "ok"
        except (OSError, ValueError) as exc:
            layers[name] = f"unavailable: {exc}"

    if plan.view is not None:
        owner = uid if plan.switch_uid else os.geteuid()
        step("mount_namespace", lambda: confine.enter_private_tmp(plan.view, owner, lim.tmp_size_mb))
    else:
        layers["mount_namespace"] = f"unavailable: {plan.view_error}"
    step(
        "rlimits",
        lambda: confine.set_rlimits(
            as_bytes=plan.as_bytes,
            cpu_soft=lim.cpu_seconds,
            cpu_hard=cpu_hard,
            fsize=lim.file_size_mb * MiB,
            nofile=lim.open_files,
            nproc=lim.processes + (userns.SHARED_UID_TASKS if plan.user_namespace else 0),
        ),
    )
    workdir = "/tmp" if layers["mount_namespace"] == "ok" else workdir
    # Built as root (it can open every allowed path); enforced once the uid is dropped.
    ruleset = _landlock_ruleset(plan, workdir, layers)
    if plan.switch_uid:
        step("uid", lambda: confine.drop_to_uid(uid))
    elif plan.user_namespace:
        step("uid", userns.drop_all_capabilities)
    elif "uid" in plan.disabled:
        layers["uid"] = "unavailable: disabled (--simulate-missing)"
    if workdir:
        os.chdir(workdir)
    if ruleset is not None:
        step("landlock", ruleset.enforce)
    if plan.seccomp is not None:
        step("seccomp", plan.seccomp.load)
    else:
        layers["seccomp"] = "unavailable: no compiled filter"
    return layers


def _landlock_ruleset(plan: ChildPlan, workdir: str | None, layers: dict[str, str]) -> Ruleset | None:
    if "landlock" in plan.disabled:
        layers["landlock"] = "unavailable: disabled (--simulate-missing)"
    elif plan.fs_policy is None:
        layers["landlock"] = "unavailable: no filesystem policy in the server"
    else:
        try:
            return Ruleset(plan.fs_policy, workdir)
        except OSError as exc:
            layers["landlock"] = f"unavailable: {exc}"
    return None


StandardStreams = tuple[io.TextIOWrapper, io.TextIOWrapper, io.TextIOWrapper]


def standard_streams() -> StandardStreams:
    """Text streams on fds 0, 1 and 2, made once in the zygote (each costs a child ~0.2 ms of
    copy-on-write faults): a child points those fds at /dev/null and its memfds, then uses them."""
    stdin = open(0, closefd=False)  # noqa: SIM115
    return stdin, _stream(1), _stream(2)


def _stream(fd: int) -> io.TextIOWrapper:
    raw = io.FileIO(fd, "w", closefd=False)
    return io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace", line_buffering=True)


def _serve(plan: ChildPlan, streams: StandardStreams) -> None:
    """Run blocks until told the last one has run (``keep`` false: a one-shot) or the channel closes."""
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    cell = 0
    while True:
        try:
            request = read_frame_fd(CTRL_FD)
        except EOFError:
            return
        cell += 1
        name = "<cell>" if cell == 1 else f"<cell-{cell}>"
        keep = bool(request.get("keep"))
        _set_cpu_budget(plan.limits.cpu_seconds, last=not keep)
        reply = execute(str(request.get("code", "")), namespace, name, plan.scrubber, streams[1:])
        write_frame_fd(CTRL_FD, reply)
        if not keep:
            return


def _prefault() -> None:
    """While idle, run the warm-up snippet once so this child copies the pages sympy writes to
    (refcounts, specialised bytecode) before a request waits on those copy-on-write faults.
    Skipped as soon as a request is waiting."""
    sink = io.StringIO()
    namespace: dict[str, Any] = {"__name__": "__prefault__"}
    for snippet in PREFAULT_SNIPPETS:
        if select.select([CTRL_FD], [], [], 0)[0]:
            return
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                exec(snippet, namespace)  # noqa: S102 - our own warm-up code
        except Exception:
            return


def _set_cpu_budget(seconds: int, *, last: bool) -> None:
    """CPU seconds for this block on top of what the child used so far: SIGXCPU at the soft limit;
    for a last block the hard limit drops to one second later (SIGKILL if SIGXCPU is ignored)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + seconds)  # RLIMIT_CPU counts whole seconds
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    new_hard = min(hard, soft + 1) if last else hard
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (min(soft, new_hard), new_hard))
    except (ValueError, OSError):
        pass


def execute(
    code: str,
    namespace: dict[str, Any],
    name: str,
    scrubber: PathScrubber,
    streams: tuple[io.TextIOWrapper, ...] = (),
) -> dict[str, Any]:
    """Run one block in ``namespace``; stdout only, like the ToRA and Qwen2.5-Math executors.

    ``streams``: this child's own stdout and stderr, flushed even if the code replaced ``sys.stdout``."""
    for fd in (1, 2):
        reset_stream(fd)
    start = time.perf_counter()
    status, error = "ok", ""
    try:
        compiled = compile(code, name, "exec")
        linecache.cache[name] = (len(code), None, code.splitlines(True), name)
        exec(compiled, namespace)  # noqa: S102 - the sandbox's purpose; confined before code arrives
    except MemoryError as exc:
        status, error = "memory", _format(exc, scrubber) or "MemoryError"
    except SystemExit as exc:
        if exc.code not in (None, 0):
            status, error = "error", f"SystemExit: {exc.code}"
    except BaseException as exc:
        _restore_builtins()
        status, error = "error", _format(exc, scrubber)
    finally:
        _restore_builtins()
    duration_ms = (time.perf_counter() - start) * 1000
    for stream in (sys.stdout, sys.stderr, *streams):
        try:
            stream.flush()  # whatever the code left there: None, a closed file, an object of its own
        except BaseException:  # its output is lost, as in Python; the result is not
            pass
    return {"status": status, "error": error, "duration_ms": duration_ms}


_BUILTINS = dict(builtins.__dict__)


def _restore_builtins() -> None:
    """Undo patched builtins (``builtins.len = None``) so this child can still report its result."""
    builtins.__dict__.clear()
    builtins.__dict__.update(_BUILTINS)


# Frames kept at each end of a deeper traceback; exceptions kept of a longer chain (the latest ones).
TRACEBACK_ENDS = 50
CHAIN_KEPT = 30


def _format(exc: BaseException, scrubber: PathScrubber) -> str:
    try:
        _cut_chain(exc)
        _shorten_tracebacks(exc)
        tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
        text = "".join(traceback.format_exception(type(exc), exc, tb))
    except BaseException:
        text = f"{type(exc).__name__}: {exc}"
    return clip_text(scrubber.scrub(text), MAX_ERROR).text


def _cut_chain(exc: BaseException) -> None:
    """Keep the latest ``CHAIN_KEPT`` exceptions of the chain that formatting follows (each one's cause,
    else its context): formatting 20,000 chained exceptions took ~3 s of the run's budget, and the
    output cap keeps only the head and tail of what it prints anyway."""
    current: BaseException | None = exc
    seen: set[int] = set()
    depth = 0
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        depth += 1
        earlier = _earlier(current)
        if depth == CHAIN_KEPT and earlier is not None:
            omitted = _chain_length(earlier)
            current.__cause__ = current.__context__ = None
            current.add_note(f"[{omitted} earlier chained exceptions omitted]")
            return
        current = earlier


def _earlier(exc: BaseException) -> BaseException | None:
    return exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)


def _chain_length(exc: BaseException | None) -> int:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc = _earlier(exc)
    return len(seen)


def _shorten_tracebacks(exc: BaseException) -> None:
    """Cut the middle out of very deep tracebacks, this exception's and those it chains to: formatting
    costs ~60 us a frame, so a runaway recursion under a raised limit (10**5 frames) spent ~6 s of the
    run's budget and ended as a timeout instead of a RecursionError."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        omitted = _splice(current.__traceback__)
        if omitted:
            current.add_note(f"[traceback shortened: {omitted} frames omitted in the middle]")
        pending += [current.__cause__, current.__context__]


def _splice(tb: Any) -> int:
    """Link the last of the first ``TRACEBACK_ENDS`` entries to the first of the last ones; returns how
    many entries that drops."""
    depth, node = 0, tb
    while node is not None:
        depth, node = depth + 1, node.tb_next
    if depth <= 2 * TRACEBACK_ENDS:
        return 0
    head = tb
    for _ in range(TRACEBACK_ENDS - 1):
        head = head.tb_next
    tail = head
    for _ in range(depth - 2 * TRACEBACK_ENDS + 1):
        tail = tail.tb_next
    head.tb_next = tail
    return depth - 2 * TRACEBACK_ENDS
