"""The zygote: a pristine copy of the warmed server that forks every child.

The serving process handles request data (code, outputs) that freed memory keeps long after a
request ends, and a forked child can read all of its own memory. So children are never forked from
it: right after warm-up, before any request, the server forks this zygote, which only ever receives
"spawn uid U" messages. It forks the child, passes the server its ends of the child's channels
(SCM_RIGHTS), reaps its children and reports how they ended.

Messages are JSON datagrams on a SOCK_SEQPACKET pair:
server -> zygote  {"spawn": uid, "spare": bool, "warm": bool}
zygote -> server  {"spawned": uid, "pid": pid} + fds [control socket, stdout memfd, stderr memfd]
                  {"failed": uid, "error": text}
                  {"exit": pid, "status": wait status, "cpu": seconds}
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import select
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from . import confine
from .capture import new_stream
from .child import ChildPlan, StandardStreams, child_main, standard_streams
from .hugepages import collapse_heap

_MAX_MESSAGE = 4096


@dataclass(frozen=True)
class Exit:
    """How a child ended: its wait status and the CPU seconds it used."""

    status: int
    cpu_seconds: float


@dataclass(frozen=True)
class Spawned:
    pid: int
    ctrl: socket.socket
    out_fd: int
    err_fd: int
    exited: asyncio.Future[Exit]
    pidfd: int = -1  # -1 where the kernel has no pidfd_open (Linux < 5.3)


class ZygoteDied(Exception):
    """The zygote is gone; the server cannot fork children any more."""


def start_zygote(plan: ChildPlan, workroot: str | None) -> tuple[int, socket.socket]:
    """Fork the zygote (call before serving anything); returns its pid and the server's channel end."""
    server_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the zygote
        server_end.close()
        _zygote_main(zygote_end, plan, workroot)
    zygote_end.close()
    return pid, server_end


def _zygote_main(chan: socket.socket, plan: ChildPlan, workroot: str | None) -> NoReturn:
    code = 0
    try:
        confine.set_process_name("sandbox-zygote")
        parent = os.getppid()
        confine.prctl(confine.PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(0)
        with contextlib.suppress(OSError):
            confine.prctl(confine.PR_SET_CHILD_SUBREAPER, 1)
        plan = _enter_view(plan)
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1):
            signal.signal(sig, signal.SIG_DFL)  # children keep these defaults
        streams = standard_streams()
        # The server's command line names its socket and parent: code sees an interpreter's instead.
        sys.argv, sys.orig_argv = [""], ["python3"]
        collapse_heap()  # here, not in the server: pages it shares with a child it forked are split
        while True:
            readable, _, _ = select.select([chan, wake_r], [], [])
            if wake_r in readable:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 4096)
                _report_exits(chan)
            if chan in readable:
                data = chan.recv(_MAX_MESSAGE)
                if not data:
                    return  # the server is gone; our children die with us (PDEATHSIG)
                request = json.loads(data)
                _spawn(chan, plan, workroot, request, streams)
    except BaseException:
        code = 70
    finally:
        os._exit(code)


def _enter_view(plan: ChildPlan) -> ChildPlan:
    """Move into the filesystem view; if that fails, children are told why and run without it
    (their report then shows the mount namespace layer missing, and the probe decides)."""
    if plan.view is None:
        return plan
    try:
        confine.enter_view(plan.view)
    except OSError as exc:
        return dataclasses.replace(plan, view=None, view_error=f"the zygote could not enter the view: {exc}")
    return plan


def _spawn(
    chan: socket.socket,
    plan: ChildPlan,
    workroot: str | None,
    request: dict[str, Any],
    streams: StandardStreams,
) -> None:
    uid = int(request["spawn"])
    try:
        server_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_fd, err_fd = new_stream("stdout"), new_stream("stderr")
        workdir = _workdir(workroot, uid, plan.switch_uid)
        pid = os.fork()
    except OSError as exc:
        chan.send(json.dumps({"failed": uid, "error": str(exc)}).encode())
        return
    if pid == 0:  # pragma: no cover - the child never returns
        chan.close()
        spare, warm = bool(request.get("spare")), bool(request.get("warm"))
        ctrl = child_end.fileno()
        child_main(plan, uid, ctrl, out_fd, err_fd, workdir, streams=streams, spare=spare, warm=warm)
    child_end.close()
    pidfd = _pidfd(pid)
    try:
        message = json.dumps({"spawned": uid, "pid": pid}).encode()
        fds = [server_end.fileno(), out_fd, err_fd] + ([pidfd] if pidfd >= 0 else [])
        socket.send_fds(chan, [message], fds)
    finally:
        server_end.close()
        for fd in (out_fd, err_fd, pidfd):
            if fd >= 0:
                os.close(fd)


def _pidfd(pid: int) -> int:
    """A pidfd for a child we have not reaped yet, so it names that process and no later one: the
    server signals through it, never by a pid that may belong to someone else once the child is gone."""
    try:
        return os.pidfd_open(pid)
    except (OSError, AttributeError):
        return -1


def _workdir(workroot: str | None, uid: int, chown: bool) -> str | None:
    """Without a per-child tmpfs, a per-uid directory that the server empties after each use."""
    if workroot is None:
        return None
    path = os.path.join(workroot, str(uid))
    os.makedirs(path, mode=0o700, exist_ok=True)
    if chown:
        os.chown(path, uid, uid)
    return path


def _report_exits(chan: socket.socket) -> None:
    while True:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        message = {"exit": pid, "status": status, "cpu": usage.ru_utime + usage.ru_stime}
        chan.send(json.dumps(message).encode())


class ZygoteClient:
    """The server's side of the zygote channel."""

    def __init__(self, pid: int, chan: socket.socket) -> None:
        self.pid = pid
        self._chan = chan
        self._chan.setblocking(False)
        self._pending: dict[int, asyncio.Future[Spawned]] = {}
        self._exits: dict[int, asyncio.Future[Exit]] = {}
        self.dead = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_death: Callable[[], object] = lambda: None

    def attach(self, loop: asyncio.AbstractEventLoop, on_death: Callable[[], object] = lambda: None) -> None:
        self._loop = loop
        self._on_death = on_death
        loop.add_reader(self._chan.fileno(), self._on_readable)

    async def spawn(self, uid: int, *, spare: bool, warm: bool = False) -> Spawned:
        if self.dead or self._loop is None:
            raise ZygoteDied("the zygote process is gone")
        fut = self._loop.create_future()
        self._pending[uid] = fut
        await self._loop.sock_sendall(
            self._chan, json.dumps({"spawn": uid, "spare": spare, "warm": warm}).encode()
        )
        return await fut

    def close(self) -> None:
        """Closing the channel ends the zygote (and, through PDEATHSIG, any child it still has)."""
        if self._loop is not None and not self.dead:
            self._loop.remove_reader(self._chan.fileno())
        self._chan.close()
        self.dead = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)  # it would exit on EOF anyway; do not wait on it
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)

    def _on_readable(self) -> None:
        while True:
            try:
                data, fds, _flags, _addr = socket.recv_fds(self._chan, _MAX_MESSAGE, 4)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data, fds = b"", []
            if not data:
                self._died()
                return
            self._dispatch(json.loads(data), fds)

    def _dispatch(self, message: dict[str, Any], fds: list[int]) -> None:
        assert self._loop is not None
        if "exit" in message:
            fut = self._exits.pop(message["exit"], None)
            if fut is not None and not fut.done():
                fut.set_result(Exit(message["status"], message["cpu"]))
            return
        uid = message.get("spawned", message.get("failed"))
        pending = self._pending.pop(uid, None)
        if "failed" in message or len(fds) not in (3, 4) or pending is None or pending.done():
            for fd in fds:
                os.close(fd)
            if "pid" in message and (pending is None or pending.done()):
                # Nobody waits for this child any more (its request was cancelled): end it now.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(message["pid"], signal.SIGKILL)
            if pending is not None and not pending.done():
                pending.set_exception(OSError(f"zygote could not fork: {message.get('error', message)}"))
            return
        exited = self._loop.create_future()
        self._exits[message["pid"]] = exited
        ctrl = socket.socket(fileno=fds[0])
        pidfd = fds[3] if len(fds) == 4 else -1
        pending.set_result(Spawned(message["pid"], ctrl, fds[1], fds[2], exited, pidfd))

    def _died(self) -> None:
        assert self._loop is not None
        self.dead = True
        self._loop.remove_reader(self._chan.fileno())
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ZygoteDied("the zygote process died"))
        # Its children died with it (PDEATHSIG); report them as killed.
        for fut in self._exits.values():
            if not fut.done():
                fut.set_result(Exit(signal.SIGKILL, 0.0))
        self._pending.clear()
        self._exits.clear()
        self._on_death()
