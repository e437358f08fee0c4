"""`CheckerPool`: checks run in worker processes that are killed and replaced when they overrun.

A check can hang (math-verify on ``5^(5^(5^(5^5)))``) or eat memory; no in-process timeout can stop sympy
reliably, so each check runs in a worker process (started with `forkserver`, which preloads sympy and
math-verify once, so a replacement is ready in milliseconds) under an address-space limit. When a check
overruns its time bound the worker is SIGKILLed, the caller gets a ``timeout`` verdict, and a fresh worker
takes its place while the other workers keep serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import resource
import time
from collections.abc import Iterable
from typing import Any

from app.grading.metrics import CHECK_SECONDS, CHECKS, WORKERS_REPLACED
from app.grading.verdict import Verdict

__all__ = ["CheckerPool"]

log = logging.getLogger(__name__)

_PRELOAD = ["app.grading.warmup"]
_START_TIMEOUT = 120.0


def _worker_main(conn: multiprocessing.connection.Connection, memory_limit: int | None) -> None:
    if memory_limit:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    from app.grading.checker import check
    from app.grading.warmup import warm_up  # a no-op in a worker forked from the warm forkserver

    warm_up()

    conn.send("ready")
    while True:
        try:
            reference, answer, strict = conn.recv()
        except (EOFError, OSError):
            return
        try:
            verdict = check(reference, answer, strict=strict)
        except MemoryError:
            verdict = Verdict(False, "error", "the check ran out of memory")
        except Exception as exc:
            verdict = Verdict(False, "error", f"the check failed: {type(exc).__name__}")
        conn.send(verdict.to_dict())


class _Worker:
    def __init__(self, ctx: Any, memory_limit: int | None) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, memory_limit), daemon=True)
        self.process.start()
        child.close()

    async def receive(self, seconds: float) -> Any:
        """The next message, or TimeoutError; EOFError if the worker died."""
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        fd = self.conn.fileno()
        loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
        try:
            await asyncio.wait_for(ready, seconds)
        finally:
            loop.remove_reader(fd)
        return self.conn.recv()

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
            self.process.join(1)
        with contextlib.suppress(Exception):
            self.conn.close()


class CheckerPool:
    """Run `check` in `workers` killable processes, each check bounded by `timeout` seconds.

    Use `async with CheckerPool() as pool:` or call `close()` when done. Safe to share between tasks.
    """

    def __init__(
        self,
        workers: int = 2,
        timeout: float = 2.0,
        *,
        memory_limit_mb: int | None = 2048,
        start_method: str = "forkserver",
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        self.workers = workers
        self.timeout = timeout
        self._memory_limit = memory_limit_mb * 1024 * 1024 if memory_limit_mb else None
        self._ctx = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            self._ctx.set_forkserver_preload(_PRELOAD)
        self._idle: asyncio.Queue[_Worker] | None = None
        self._all: set[_Worker] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.replaced = 0  # workers killed and replaced (timeouts, crashes); exposed for metrics and tests

    async def __aenter__(self) -> CheckerPool:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    async def start(self) -> None:
        """Start the workers and wait until they are ready (called lazily by the first check)."""
        if self._idle is not None:
            return
        self._idle = asyncio.Queue()
        await asyncio.gather(*(self._spawn() for _ in range(self.workers)))

    async def check(self, reference: str, answer: str, strict: bool = False) -> Verdict:
        """The verdict of `check(reference, answer)`, or a `timeout` verdict after `self.timeout` seconds."""
        if self._closed:
            raise RuntimeError("CheckerPool is closed")
        await self.start()
        assert self._idle is not None
        try:
            worker = await asyncio.wait_for(self._idle.get(), _START_TIMEOUT)
        except TimeoutError:  # every worker failed to start: answer, never hang
            return Verdict(False, "error", "no checker worker is available")
        healthy = False
        started = time.perf_counter()
        try:
            worker.conn.send((str(reference), str(answer), bool(strict)))
            data = await worker.receive(self.timeout)
            healthy = True
            verdict = Verdict(**data)
        except TimeoutError:
            verdict = Verdict(False, "timeout", f"the check took over {self.timeout:g} s and was stopped")
        except (EOFError, OSError):
            verdict = Verdict(False, "error", "the checker worker died")
        finally:
            if healthy:
                self._idle.put_nowait(worker)
            else:  # also on cancellation: the worker may still be busy, so replace it
                self._replace(worker)
        CHECK_SECONDS.observe(time.perf_counter() - started)
        CHECKS.labels(verdict.reason).inc()
        return verdict

    async def check_many(self, pairs: Iterable[tuple[str, str]], strict: bool = False) -> list[Verdict]:
        """Verdicts for (reference, answer) pairs, in order, checked concurrently on the workers."""
        return list(await asyncio.gather(*(self.check(ref, ans, strict) for ref, ans in pairs)))

    async def equivalent(self, a: str, b: str) -> bool:
        """True when two answers are equivalent (for self-consistency voting; a timeout counts as False)."""
        return (await self.check(a, b)).equivalent

    def close(self) -> None:
        """Kill all workers. Idempotent."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for worker in list(self._all):
            worker.kill()
        self._all.clear()

    async def _spawn(self) -> None:
        worker = _Worker(self._ctx, self._memory_limit)
        self._all.add(worker)
        try:
            if await worker.receive(_START_TIMEOUT) != "ready":
                raise RuntimeError("checker worker sent an unexpected greeting")
        except BaseException:
            self._all.discard(worker)
            worker.kill()
            raise
        if self._closed:
            worker.kill()
            return
        assert self._idle is not None
        self._idle.put_nowait(worker)

    async def _respawn(self) -> None:
        for attempt in range(5):
            try:
                await self._spawn()
                return
            except Exception:
                log.exception("starting a checker worker failed (attempt %d)", attempt + 1)
                await asyncio.sleep(1.0)

    def _replace(self, worker: _Worker) -> None:
        self._all.discard(worker)
        worker.kill()
        if self._closed:
            return
        self.replaced += 1
        WORKERS_REPLACED.inc()
        task = asyncio.get_running_loop().create_task(self._respawn())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
