"""Confined children: running code in them, killing them by uid, keeping a pool of them ready.

Each child gets a uid of its own from a dedicated range for its whole life; after its last run every
process of that uid is killed and reaped before the uid is handed out again. A pool of ready
children is kept for one-shot runs and refilled after each use.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import socket
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from . import confine, trees
from .capture import clip_text, read_stream
from .child import ChildPlan
from .limits import MiB
from .protocol import ProtocolError, read_frame, write_frame
from .result import RunResult
from .zygote import Exit, ZygoteClient, ZygoteDied

# Host-wide lock files for uid blocks; /run may be read-only in a container, /tmp is the fallback.
LOCK_DIRS = (
    "/run/sandbox-uids",
    os.path.join(tempfile.gettempdir(), "sandbox-uids"),
    os.path.join(tempfile.gettempdir(), f"sandbox-uids-{os.getuid()}"),
)


# A child's frames are small (its error text is clipped to MAX_ERROR); a bigger one is forged, and
# decoding it would stall the server's event loop for every other run.
MAX_REPLY = 1024 * 1024

# Nice value of a used child while it is killed: nobody waits for its exit but the uid it frees.
TEARDOWN_NICE = 19


class ChildFailed(Exception):
    """A child could not be confined as the server requires."""


class NoFreeUid(Exception):
    """No uid came free within the caller's bound: every one is held by a session or a run."""


# Uids are locked in chunks of this many (one lock file each), whatever the ranges servers ask for.
_LOCK_CHUNK = 64


def _lock_chunks(lock_dir: str, uids: UidRange) -> tuple[list[int], int | None]:
    """Lock every chunk the range touches: (the lock fds, None), or ([], the first chunk in use)."""
    fds: list[int] = []
    for chunk in range(uids.base // _LOCK_CHUNK, (uids.base + uids.count - 1) // _LOCK_CHUNK + 1):
        path = os.path.join(lock_dir, f"uids-{chunk * _LOCK_CHUNK}.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            for held in (*fds, fd):
                os.close(held)
            return [], chunk
        fds.append(fd)
    return fds, None


@dataclass(frozen=True)
class UidRange:
    """The dedicated uids for sandbox children: ``base`` .. ``base + count - 1``."""

    base: int = 61000
    count: int = 128

    def __iter__(self):
        return iter(range(self.base, self.base + self.count))

    def claim(self, attempts: int = 64) -> tuple[UidRange, list[int]]:
        """Lock this range, or the next free one above it, for this server's lifetime.

        Servers on one host (one PID namespace) must not share uids: killing a slot by uid would
        reach another server's child, and a starting server kills whatever runs in its range. The
        locks cover fixed chunks of uids, so ranges of any base and size that overlap always meet on
        one. Returns the claimed range and the lock fds to keep open.
        """
        lock_dir = _writable_dir(LOCK_DIRS)
        base = self.base
        for _ in range(attempts):
            candidate = UidRange(base, self.count)
            fds, busy = _lock_chunks(lock_dir, candidate)
            if busy is None:
                return candidate, fds
            base = (busy + 1) * _LOCK_CHUNK  # the next candidate starts above the chunk in use
        raise OSError(f"no free range of {self.count} sandbox uids above {self.base} ({attempts} tried)")

    def kill_leftovers(self) -> None:
        """Kill what a server that held this range before left running: it was killed itself, and a
        child of it that escaped its parent-death signal would otherwise live on until its uid is
        next recycled."""
        for uid in self:
            try:
                confine.kill_uid(uid)
            except OSError as exc:
                print(f"sandbox server: kill by uid {uid} failed: {exc}", file=sys.stderr)


class Child:
    """One confined child process and the server's ends of its channels."""

    def __init__(
        self,
        pid: int,
        uid: int,
        ctrl: socket.socket,
        out_fd: int,
        err_fd: int,
        exited: asyncio.Future[Exit],
        pidfd: int = -1,
    ) -> None:
        self.pid, self.uid, self.pidfd = pid, uid, pidfd
        self.out_fd, self.err_fd = out_fd, err_fd
        self.exited = exited
        self._ctrl = ctrl
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.layers: dict[str, str] = {}
        self.dead_reason = ""
        self.closed = False
        self.destroying = False
        self.reniced = False
        self.expected: frozenset[str] = frozenset()  # layers every child must report "ok"
        self.ready = asyncio.get_running_loop().create_task(self._await_ready())
        # A pool child destroyed at shutdown before it was ready is nobody's error: mark it seen.
        self.ready.add_done_callback(lambda task: task.cancelled() or task.exception())

    async def _await_ready(self) -> dict[str, str]:
        self._reader, self._writer = await asyncio.open_unix_connection(sock=self._ctrl)
        try:
            frame = await read_frame(self._reader, MAX_REPLY)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise ChildFailed(f"child {self.pid} died before it was ready") from exc
        if not frame.get("ready"):
            raise ChildFailed(f"child {self.pid} failed to confine itself: {frame.get('fatal')}")
        self.layers = frame["layers"]
        lost = sorted(name for name in self.expected if self.layers.get(name) != "ok")
        if lost:
            details = "; ".join(f"{name}: {self.layers.get(name)}" for name in lost)
            raise ChildFailed(f"child {self.pid} lost layer(s) that the probe found working ({details})")
        return self.layers

    async def run(
        self,
        code: str,
        timeout: float,  # noqa: ASYNC109 - enforced by killing the child, not by cancelling
        keep_bytes: int,
        fsize: int,
        *,
        keep: bool = False,
        cpu_seconds: float = 0.0,
    ) -> RunResult:
        """Send one block and wait for it, killing the child at the wall-clock deadline."""
        start = time.perf_counter()
        status, error = "ok", ""
        timed_out = f"TimeoutError: execution exceeded the {timeout:g} s wall-clock limit"
        try:
            # The send is under the deadline too: a session's earlier block may have stopped the child
            # from reading, and a big block then fills the socket.
            reply = await asyncio.wait_for(self._exchange(code, keep), timeout)
            status, error = _checked_reply(reply)
        except TimeoutError:
            self.kill()
            await self.exited
            status, error = "timeout", timed_out
            self.dead_reason = "killed at its wall-clock deadline"
        except (asyncio.IncompleteReadError, ConnectionError):
            ended = await self._exit_by(start + timeout)
            status, error = (
                ("timeout", timed_out) if ended is None else self._death_status(ended, cpu_seconds)
            )
            self.dead_reason = error
        except ProtocolError as exc:  # the code wrote to the control channel itself
            self.kill()
            await self.exited
            status, error = "killed", f"the process sent a malformed reply on its control channel ({exc})"
            self.dead_reason = error
        duration_ms = (time.perf_counter() - start) * 1000
        if self.closed:  # destroyed under us: the server is shutting down
            return RunResult(
                "killed", error="sandbox server shut down during the run", duration_ms=duration_ms
            )
        out, err = read_stream(self.out_fd, keep_bytes), read_stream(self.err_fd, keep_bytes)
        if max(out.size, err.size) >= fsize and status in ("ok", "error", "timeout", "killed"):
            status = "output_limit"
            error = error or f"output exceeded the {fsize // MiB} MiB cap"
        clipped = clip_text(error, keep_bytes)
        truncated = out.truncated or err.truncated or clipped.truncated
        return RunResult(status, out.text, err.text, _encodable(clipped.text), truncated, duration_ms)

    async def _exchange(self, code: str, keep: bool) -> dict:
        assert self._reader is not None and self._writer is not None
        await write_frame(self._writer, {"code": code, "keep": keep})
        return await read_frame(self._reader, MAX_REPLY)

    async def _exit_by(self, deadline: float) -> Exit | None:
        """How the child ended, once its channel closed; None if it was still running at the run's
        deadline (then it is killed): code that closes its channel and sleeps must not hold the run."""
        await asyncio.wait([self.exited], timeout=max(0.0, deadline - time.perf_counter()))
        if self.exited.done():
            return self.exited.result()
        self.kill()
        await self.exited
        return None

    @staticmethod
    def _death_status(ended: Exit, cpu_seconds: float) -> tuple[str, str]:
        # Reached only when the server did not kill the child itself.
        if os.WIFSIGNALED(ended.status):
            sig = os.WTERMSIG(ended.status)
            if sig == signal.SIGXCPU or (sig == signal.SIGKILL and ended.cpu_seconds >= cpu_seconds > 0):
                return "timeout", f"CPU time limit exceeded (RLIMIT_CPU, {ended.cpu_seconds:.1f} s used)"
            if sig == signal.SIGKILL:
                return "killed", "process killed by SIGKILL (out of memory?)"
            if sig == signal.SIGSEGV:
                return "killed", (
                    "process killed by signal SIGSEGV (a crash: recursion deeper than the C stack after "
                    "sys.setrecursionlimit, or native code given bad input)"
                )
            return "killed", f"process killed by signal {signal.Signals(sig).name}"
        code = os.WEXITSTATUS(ended.status)
        return "killed", f"process exited with status {code} during the run (os._exit?)"

    def restore_priority(self) -> None:
        """Back to nice 0 once a request is waiting on this child (needs CAP_SYS_NICE)."""
        if self.reniced:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, self.pid, 0)
            self.reniced = False

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def pause(self) -> None:
        """Stop every thread of a session's child between blocks: code it left running (a busy
        thread, a timer) gets no CPU while the model writes the next block. SIGKILL still works."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, sig: int) -> None:
        """Through the pidfd when there is one: it names this child even after its pid is reused.
        Without one, never once the child is known to be reaped (its pid may be someone else's)."""
        if self.pidfd < 0 and self.exited.done():
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self.pidfd >= 0:
                signal.pidfd_send_signal(self.pidfd, sig)
            else:
                os.kill(self.pid, sig)

    def close_channels(self) -> None:
        self.closed = True
        if self._writer is not None:
            self._writer.close()
        else:
            self._ctrl.close()
        for fd in (self.out_fd, self.err_fd, self.pidfd):
            with contextlib.suppress(OSError):
                if fd >= 0:
                    os.close(fd)
        self.pidfd = -1


class Pool:
    """Forks confined children, keeps ``size`` of them ready, and destroys them after use."""

    def __init__(
        self, plan: ChildPlan, size: int, uids: UidRange, zygote: ZygoteClient, workroot: str | None
    ) -> None:
        self.plan, self.size, self.zygote = plan, size, zygote
        self._free_uids = deque(uids)
        self._uid_freed = asyncio.Condition()
        self._idle: deque[Child] = deque()
        self._refilling = False
        self._closed = False
        self._workroot = workroot
        self._tasks: set[asyncio.Task] = set()
        self.live: set[Child] = set()
        self._running = 0
        self._cpus = len(os.sched_getaffinity(0))
        self.expected_layers: frozenset[str] = frozenset()  # set from the probe child's report

    async def spawn(self) -> Child:
        """Fork a child for a caller that is waiting for it (no warm-up, normal priority)."""
        async with self._uid_freed:
            await self._uid_freed.wait_for(lambda: bool(self._free_uids))
            uid = self._free_uids.popleft()
        return await self._fork(uid, spare=False)

    async def _fork(self, uid: int, *, spare: bool) -> Child:
        """Have the zygote fork a child with this uid (the uid is already taken from the free list)."""
        try:
            spawned = await self.zygote.spawn(uid, spare=spare, warm=spare and self._cpu_to_spare())
        except (OSError, ZygoteDied) as exc:
            await self._free_uid(uid)
            raise ChildFailed(str(exc)) from exc
        child = Child(
            spawned.pid, uid, spawned.ctrl, spawned.out_fd, spawned.err_fd, spawned.exited, spawned.pidfd
        )
        child.reniced = spare and self.plan.background_nice != 0
        child.expected = self.expected_layers
        self.live.add(child)
        return child

    async def acquire(self, wait: float | None = None) -> Child:
        """A ready child: from the pool if one is waiting, else a fresh fork (retried once).

        ``wait``: at most this many seconds for a free uid (every uid may be held by open sessions
        for as long as they live), else ``NoFreeUid``. Safe to cancel: a caller that gives up while
        waiting takes nothing, and a child that arrives after its caller gave up (its client hung up)
        is released, so neither the child nor its uid is lost."""
        claim = await self._claim(wait)
        task = asyncio.ensure_future(self._ready(claim))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            self._track(self._release_when_ready(task))
            raise

    async def _claim(self, wait: float | None) -> Child | int:
        """An idle child, or else a free uid to fork one with; cancelling takes neither."""
        loop = asyncio.get_running_loop()
        deadline = None if wait is None else loop.time() + wait
        async with self._uid_freed:
            # Checked again after each wake-up, with no await before the pop: the wait runs in a task
            # of its own, and a refill (which takes no lock) may take the uid before this one resumes.
            while not self._claimable():
                remaining = None if deadline is None else max(0.0, deadline - loop.time())
                try:
                    await asyncio.wait_for(self._uid_freed.wait(), remaining)
                except TimeoutError:
                    if self._claimable():  # freed as the wait ran out: its wake-up is this caller's
                        break
                    raise NoFreeUid(f"no sandbox uid came free within {wait:g} s") from None
            return self._idle.popleft() if self._idle else self._free_uids.popleft()

    def _claimable(self) -> bool:
        return bool(self._idle or self._free_uids)

    async def _release_when_ready(self, task: asyncio.Future[Child]) -> None:
        with contextlib.suppress(ChildFailed):
            self.release(await task)

    async def _ready(self, claim: Child | int) -> Child:
        # Refilling happens on release, after the run: forking now would compete with it for the CPU.
        child = claim if isinstance(claim, Child) else await self._fork(claim, spare=False)
        try:
            child.restore_priority()
            await child.ready
            return child
        except ChildFailed:
            await self.destroy(child)
        child = await self.spawn()
        try:
            await child.ready
        except ChildFailed:
            await self.destroy(child)
            raise
        return child

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Count a run in progress (see ``_cpu_to_spare``)."""
        self._running += 1
        try:
            yield
        finally:
            self._running -= 1

    def _cpu_to_spare(self) -> bool:
        """Whether a spare child may warm up now: with every CPU running requests, a warm-up would
        only repeat work (copy-on-write faults, sympy's first calls) that the run does anyway, on a
        CPU a run needs."""
        return self._running < self._cpus

    def refill(self) -> None:
        if not self._refilling and not self._closed:
            self._refilling = True
            self._track(self._refill())

    async def _refill(self) -> None:
        try:
            while len(self._idle) < self.size and self._free_uids and not self._closed:
                batch = []
                while len(self._idle) < self.size and self._free_uids:
                    try:
                        child = await self._fork(self._free_uids.popleft(), spare=True)
                    except ChildFailed:
                        await asyncio.sleep(0.5)  # the zygote cannot fork now; the next release retries
                        return
                    self._idle.append(child)
                    batch.append(child)
                    async with self._uid_freed:
                        self._uid_freed.notify()  # a caller waiting for a uid takes this child
                outcomes = await asyncio.gather(*(c.ready for c in batch), return_exceptions=True)
                failed = [c for c, o in zip(batch, outcomes, strict=True) if isinstance(o, BaseException)]
                for child in failed:
                    if child in self._idle:
                        self._idle.remove(child)
                        await self.destroy(child)
                if failed:
                    await asyncio.sleep(0.5)  # do not spin on a host that cannot confine
        finally:
            self._refilling = False

    def release(self, child: Child) -> None:
        """Destroy a used child and top the pool up, in the background."""
        self._track(self._recycle(child))

    async def _recycle(self, child: Child) -> None:
        await self.destroy(child)
        self.refill()

    async def destroy(self, child: Child) -> None:
        """Kill every process of the child's uid, reap the child, and only then free the uid."""
        if child.destroying:
            await child.exited
            return
        child.destroying = True
        child.dead_reason = child.dead_reason or "destroyed"
        if self.plan.background_nice and not child.exited.done():
            with contextlib.suppress(OSError):  # its exit (unmapping its memory) yields to running requests
                os.setpriority(os.PRIO_PROCESS, child.pid, TEARDOWN_NICE)
        try:
            if self.plan.switch_uid:
                confine.kill_uid(child.uid)
        except OSError as exc:  # never leak the uid: fall back to the process group below
            print(f"sandbox server: kill by uid {child.uid} failed: {exc}", file=sys.stderr)
        if not child.exited.done():  # once reaped, its pid (and group id) may be someone else's
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)  # its group: whatever it forked, if it could
            child.kill()
        await child.exited
        child.close_channels()
        self.live.discard(child)
        if self._workroot is not None:
            await asyncio.to_thread(_clear_workdir, os.path.join(self._workroot, str(child.uid)))
        await self._free_uid(child.uid)

    async def _free_uid(self, uid: int) -> None:
        async with self._uid_freed:
            self._free_uids.append(uid)
            self._uid_freed.notify()

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            self.live.add(self._idle.popleft())
        await asyncio.gather(*(self.destroy(c) for c in list(self.live)), return_exceptions=True)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # none left pending when the loop ends

    def _track(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            print(f"sandbox server: background task failed: {task.exception()!r}", file=sys.stderr)


def _writable_dir(candidates: tuple[str, ...]) -> str:
    for path in candidates:
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
        except OSError:
            continue
        if os.access(path, os.W_OK):
            return path
    raise OSError(f"no writable directory for uid locks among {', '.join(candidates)}")


def _checked_reply(reply: dict) -> tuple[str, str]:
    status, error = reply.get("status"), reply.get("error", "")
    if status not in ("ok", "error", "memory") or not isinstance(error, str):
        raise ProtocolError(f"unexpected reply {str(reply)[:80]!r}")
    return status, error


def _encodable(text: str) -> str:
    """``text`` with lone surrogates (``raise ValueError('\\udcff')``, or escaped in a forged reply)
    spelled out, so that callers can encode the result as UTF-8."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _clear_workdir(path: str) -> None:
    """Empty a used child's work directory for the next child of its uid; one that cannot be emptied is
    moved aside (the zygote makes a fresh one), so no file ever reaches the next run."""
    try:
        trees.empty_dir(path)
    except FileNotFoundError:
        pass
    except Exception as exc:  # whatever happened, the uid must still be freed
        print(f"sandbox server: cannot empty {path} ({exc!r}); moving it aside", file=sys.stderr)
        with contextlib.suppress(OSError):
            os.rename(path, f"{path}.stale-{time.monotonic_ns()}")
