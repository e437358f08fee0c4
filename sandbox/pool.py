"""Confined children: forking them, running code in them, killing and reaping them by uid.

Each child gets a uid of its own from a dedicated range for its whole life; after its last run every
process of that uid is killed and reaped before the uid is handed out again. A pool of ready
children is kept for one-shot runs and refilled after each use.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections import deque
from dataclasses import dataclass

from . import confine
from .capture import new_stream, read_stream
from .child import ChildPlan, child_main
from .limits import MiB
from .protocol import read_frame, write_frame
from .result import RunResult


class ChildFailed(Exception):
    """A child could not be confined as the server requires."""


@dataclass(frozen=True)
class UidRange:
    """The dedicated uids for sandbox children: ``base`` .. ``base + count - 1``."""

    base: int = 61000
    count: int = 256

    def __iter__(self):
        return iter(range(self.base, self.base + self.count))


class Reaper:
    """Collects exit statuses on SIGCHLD (the server is a subreaper, so orphans land here too)."""

    def __init__(self) -> None:
        self._waiters: dict[int, asyncio.Future[int]] = {}

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_signal_handler(signal.SIGCHLD, self.reap)

    def watch(self, pid: int) -> asyncio.Future[int]:
        fut = asyncio.get_running_loop().create_future()
        self._waiters[pid] = fut
        return fut

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            fut = self._waiters.pop(pid, None)
            if fut is not None and not fut.done():
                fut.set_result(status)


class Child:
    """One confined child process and the server's ends of its channels."""

    def __init__(self, pid: int, uid: int, ctrl: socket.socket, out_fd: int, err_fd: int, exited) -> None:
        self.pid, self.uid = pid, uid
        self.out_fd, self.err_fd = out_fd, err_fd
        self.exited: asyncio.Future[int] = exited
        self._ctrl = ctrl
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.layers: dict[str, str] = {}
        self.dead_reason = ""
        self.ready = asyncio.get_running_loop().create_task(self._await_ready())

    async def _await_ready(self) -> dict[str, str]:
        self._reader, self._writer = await asyncio.open_unix_connection(sock=self._ctrl)
        try:
            frame = await read_frame(self._reader)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise ChildFailed(f"child {self.pid} died before it was ready") from exc
        if not frame.get("ready"):
            raise ChildFailed(f"child {self.pid} failed to confine itself: {frame.get('fatal')}")
        self.layers = frame["layers"]
        return self.layers

    async def run(self, code: str, timeout: float, keep_bytes: int, fsize: int) -> RunResult:
        """Send one block and wait for it, killing the child at the wall-clock deadline."""
        assert self._reader is not None and self._writer is not None
        start = time.perf_counter()
        status, error = "ok", ""
        try:
            await write_frame(self._writer, {"code": code})
            reply = await asyncio.wait_for(read_frame(self._reader), timeout)
            status, error = reply["status"], reply.get("error", "")
        except TimeoutError:
            self.kill()
            await self.exited
            status, error = "timeout", f"TimeoutError: execution exceeded the {timeout:g} s wall-clock limit"
            self.dead_reason = "killed at its wall-clock deadline"
        except (asyncio.IncompleteReadError, ConnectionError):
            status, error = self._death_status(await self.exited)
            self.dead_reason = error
        duration_ms = (time.perf_counter() - start) * 1000
        out, err = read_stream(self.out_fd, keep_bytes), read_stream(self.err_fd, keep_bytes)
        if max(out.size, err.size) >= fsize and status in ("ok", "error", "timeout", "killed"):
            status = "output_limit"
            error = error or f"output exceeded the {fsize // MiB} MiB cap"
        return RunResult(status, out.text, err.text, error, out.truncated or err.truncated, duration_ms)

    @staticmethod
    def _death_status(wait_status: int) -> tuple[str, str]:
        # Reached only when the server did not kill the child itself.
        if os.WIFSIGNALED(wait_status):
            sig = os.WTERMSIG(wait_status)
            if sig in (signal.SIGXCPU, signal.SIGKILL):
                return "timeout", "CPU time limit exceeded (RLIMIT_CPU)"
            return "killed", f"process killed by signal {signal.Signals(sig).name}"
        code = os.WEXITSTATUS(wait_status)
        return "killed", f"process exited with status {code} during the run (os._exit?)"

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signal.SIGKILL)

    def close_channels(self) -> None:
        if self._writer is not None:
            self._writer.close()
        else:
            self._ctrl.close()
        for fd in (self.out_fd, self.err_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


class Pool:
    """Forks confined children, keeps ``size`` of them ready, and destroys them after use."""

    def __init__(self, plan: ChildPlan, size: int, uids: UidRange, reaper: Reaper, workroot: str | None) -> None:
        self.plan, self.size, self.reaper = plan, size, reaper
        self._free_uids = deque(uids)
        self._uid_freed = asyncio.Condition()
        self._idle: deque[Child] = deque()
        self._refilling = False
        self._workroot = workroot
        self._tasks: set[asyncio.Task] = set()
        self.live: set[Child] = set()

    async def spawn(self, *, session: bool = False) -> Child:
        async with self._uid_freed:
            await self._uid_freed.wait_for(lambda: bool(self._free_uids))
            uid = self._free_uids.popleft()
        return self._fork(uid, session)

    def _fork(self, uid: int, session: bool) -> Child:
        server_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_fd, err_fd = new_stream("stdout"), new_stream("stderr")
        workdir = self._workdir(uid)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            child_main(self.plan, uid, session, child_end.fileno(), out_fd, err_fd, workdir)
        child_end.close()
        child = Child(pid, uid, server_end, out_fd, err_fd, self.reaper.watch(pid))
        self.live.add(child)
        return child

    def _workdir(self, uid: int) -> str | None:
        if self._workroot is None:
            return None
        path = os.path.join(self._workroot, str(uid))
        os.makedirs(path, mode=0o700, exist_ok=True)
        if self.plan.switch_uid:
            os.chown(path, uid, uid)
        return path

    async def acquire(self) -> Child:
        """A ready one-shot child: from the pool if one is waiting, else a fresh fork."""
        child = self._idle.popleft() if self._idle else await self.spawn()
        self.refill()
        await child.ready
        return child

    def refill(self) -> None:
        if not self._refilling:
            self._refilling = True
            self._track(self._refill())

    async def _refill(self) -> None:
        try:
            while len(self._idle) < self.size and self._free_uids:
                child = self._fork(self._free_uids.popleft(), session=False)
                self._idle.append(child)
                try:
                    await child.ready
                except ChildFailed:
                    self._idle.remove(child)
                    await self.destroy(child)
                    await asyncio.sleep(0.5)  # do not spin on a host that cannot confine
        finally:
            self._refilling = False

    def release(self, child: Child) -> None:
        """Destroy a used child in the background."""
        self._track(self.destroy(child))

    async def destroy(self, child: Child) -> None:
        child.dead_reason = child.dead_reason or "destroyed"
        if self.plan.switch_uid:
            confine.kill_uid(child.uid)
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
        child.kill()
        await child.exited
        child.close_channels()
        self.live.discard(child)
        if self._workroot is not None:
            await asyncio.to_thread(_clear_dir, os.path.join(self._workroot, str(child.uid)))
        async with self._uid_freed:
            self._free_uids.append(child.uid)
            self._uid_freed.notify()

    async def close(self) -> None:
        while self._idle:
            self.live.add(self._idle.popleft())
        await asyncio.gather(*(self.destroy(c) for c in list(self.live)), return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()

    def _track(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _clear_dir(path: str) -> None:
    import shutil

    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
