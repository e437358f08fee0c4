"""`HomeworkRunner`: grades homework sets as background jobs that survive restarts.

A job keys its problems (reference, or the solver's majority answer), then checks the submissions in batches
on the `CheckerPool`, writing each batch in one store transaction. Resuming a job skips every key and verdict
already stored, so a crash at any point loses nothing and redoes nothing that was written.

A job is run by one process at a time: its runner holds a lease on it in the store, renewed while it runs.
Another process sharing the store (a replica, or the next process while the old one drains) takes a job over
only once its lease expired or its owner is seen dead on this host, so two services never grade a job twice.

Each unfinished job holds work and disk, so `max_unfinished` bounds how many may be queued or running: a
submission beyond it raises `TooManyJobs`. Jobs resumed at start count toward the bound but are never refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from app.grading.keying import KeySolver, KeyUnavailable
from app.grading.models import HomeworkSet, ItemVerdict, JobInfo, Problem, ProblemKey, Submission
from app.grading.pool import CheckerPool
from app.grading.store import UNFINISHED, IdempotencyKeyReused, JobStore, StoreUnavailable
from app.grading.verdict import Verdict

__all__ = ["HomeworkRunner", "IdempotencyKeyReused", "TooManyJobs"]

log = logging.getLogger(__name__)

STORE_RETRY_FIRST_S, STORE_RETRY_MAX_S = 1.0, 30.0  # a job waiting for its store tries again this often
KEY_RETRY_S = (5.0, 15.0, 30.0, 60.0)  # waits before solving again when the model server was unreachable
LEASE_S = 20.0  # a job whose runner stopped renewing its lease for this long may be taken over


class TooManyJobs(Exception):
    """A submission found `limit` jobs (or more) unfinished; `retry_after` estimates when one place frees."""

    def __init__(self, unfinished: int, limit: int, retry_after: int) -> None:
        self.unfinished, self.limit, self.retry_after = unfinished, limit, retry_after
        super().__init__(
            f"{unfinished} homework jobs are unfinished (queued or running) and at most {limit} may be; "
            "retry when one has finished"
        )


class HomeworkRunner:
    """Runs jobs from `store` on `pool`; `keyer` solves problems that have no reference (None: flag them).
    At most `max_unfinished` jobs may be queued or running when a new one is submitted (None: no bound).
    A key the solver could not compute for an outage (`KeyUnavailable`) is tried again after each wait of
    `key_retry_s`, then flagged unavailable."""

    def __init__(
        self,
        store: JobStore,
        pool: CheckerPool,
        keyer: KeySolver | None = None,
        *,
        review_threshold: float = 0.6,
        batch_size: int = 16,
        solve_concurrency: int = 4,
        max_unfinished: int | None = None,
        key_retry_s: Sequence[float] = KEY_RETRY_S,
        lease_s: float = LEASE_S,
    ) -> None:
        self.store = store
        self.lease_s = lease_s
        self.owner = _owner_id()
        self._watcher: asyncio.Task[None] | None = None
        self.key_retry_s = tuple(key_retry_s)
        self.pool = pool
        self.keyer = keyer
        self.review_threshold = review_threshold
        self.batch_size = batch_size
        self.max_unfinished = max_unfinished
        self._solve_slots = asyncio.Semaphore(solve_concurrency)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._admission = asyncio.Lock()  # count, then create, as one step: submissions never overshoot
        self._mean_job_s = 30.0  # moving average of how long a submitted job stays unfinished (Retry-After)

    async def submit(self, homework: HomeworkSet) -> JobInfo:
        """Store the job and start it in the background; `TooManyJobs` if the bound is reached."""
        async with self._admission:
            await self._admit()
            info = await asyncio.to_thread(self.store.create, homework)
        self._start_submitted(info.id, homework)
        return info

    async def submit_keyed(self, homework: HomeworkSet, key: str) -> tuple[JobInfo, bool]:
        """`submit` once per idempotency `key`: a retry with the same set gets the job the first try made
        (and False: not new), even past the bound; `IdempotencyKeyReused` if the key names another set."""
        async with self._admission:
            found = await asyncio.to_thread(self.store.find_keyed, homework, key)
            if found is not None:
                return found, False
            await self._admit()
            info, created = await asyncio.to_thread(self.store.create_keyed, homework, key)
        if created:
            self._start_submitted(info.id, homework)
        return info, created

    async def _admit(self) -> None:
        if self.max_unfinished is not None:
            unfinished = await asyncio.to_thread(self.store.count_unfinished)
            if unfinished >= self.max_unfinished:
                raise TooManyJobs(unfinished, self.max_unfinished, self._retry_after(unfinished))

    def _start_submitted(self, job_id: str, homework: HomeworkSet) -> None:
        task = self._start(job_id, homework)
        if task is not None:
            submitted = time.monotonic()
            task.add_done_callback(lambda t: self._job_ended(t, submitted))

    def _retry_after(self, unfinished: int) -> int:
        """Seconds until a place is likely free: of `unfinished` jobs at random points of their run, the first
        ends after about 1/(n+1) of a run."""
        return max(1, min(60, math.ceil(self._mean_job_s / (unfinished + 1))))

    def _job_ended(self, task: asyncio.Task[None], submitted: float) -> None:
        if not task.cancelled():  # cancelled: stopped by a user or by shutdown, not a measure of a run
            self._mean_job_s = 0.8 * self._mean_job_s + 0.2 * (time.monotonic() - submitted)

    async def resume(self) -> list[str]:
        """Start every unfinished job nobody runs (left by a previous process, or by one that died), and
        from then on take over jobs whose runner stops renewing its lease; returns the ids started now."""
        started = await self._take_over()
        if self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch(), name="homework-leases")
        return started

    async def _take_over(self) -> list[str]:
        """Start the unfinished jobs whose lease is free, expired, or held by a dead process of this host."""
        now = time.time()
        started = []
        for job_id, owner, until in await asyncio.to_thread(self.store.leases):
            free = owner is None or owner == self.owner or until is None or until < now or _dead(owner)
            if free and job_id not in self._tasks:
                self._start(job_id)
                started.append(job_id)
        return started

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 2)
            try:
                await self._take_over()
            except StoreUnavailable as exc:
                log.warning("homework jobs: cannot read leases: %s", exc)

    async def cancel(self, job_id: str) -> JobInfo | None:
        """Stop a job; verdicts already written stay. Returns None for an unknown job."""
        info = await asyncio.to_thread(self.store.info, job_id)
        if info is None:
            return None
        if await asyncio.to_thread(self.store.transition, job_id, "cancelled", UNFINISHED):
            task = self._tasks.get(job_id)
            if task is not None:
                task.cancel()
        return await asyncio.to_thread(self.store.info, job_id)

    async def delete(self, job_id: str) -> bool:
        """Stop a job if it runs and remove it with everything graded; False for an unknown job."""
        task = self._tasks.get(job_id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return await asyncio.to_thread(self.store.delete, job_id)

    async def wait(self, job_id: str) -> JobInfo | None:
        """Wait for a job started by this runner to stop, and return its final state."""
        task = self._tasks.get(job_id)
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)
        return await asyncio.to_thread(self.store.info, job_id)

    async def close(self) -> None:
        """Stop running jobs without changing their status and drop their leases, so the next process (or
        another replica) resumes them at once."""
        tasks = [t for t in (self._watcher, *self._tasks.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._watcher = None
        try:
            await asyncio.to_thread(self.store.release, self.owner)
        except StoreUnavailable as exc:  # the leases then expire on their own
            log.warning("homework jobs: cannot release leases: %s", exc)

    def _start(self, job_id: str, homework: HomeworkSet | None = None) -> asyncio.Task[None] | None:
        """Run the job in a task; `homework` is its set when the caller has it (a submission): reading a
        set of 50,000 rows back from the store holds the interpreter ~0.3 s, every request waiting."""
        if job_id in self._tasks:
            return None
        run = self._run(job_id, homework)
        task = asyncio.get_running_loop().create_task(run, name=f"homework-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(job_id, None))
        return task

    async def _run(self, job_id: str, homework: HomeworkSet | None) -> None:
        """Run the job; while the store cannot be written (disk full, locked, read-only) wait and go on from
        what is stored, so the job neither fails nor hangs in `running` when the store comes back."""
        delay = STORE_RETRY_FIRST_S
        while True:
            try:
                await self._run_once(job_id, homework)
                return
            except StoreUnavailable as exc:
                log.warning("homework job %s waits %g s for its store: %s", job_id, delay, exc)
                await asyncio.sleep(delay)
                delay = min(2 * delay, STORE_RETRY_MAX_S)

    async def _run_once(self, job_id: str, homework: HomeworkSet | None) -> None:
        # Compare-and-set: a job cancelled, finished, or run by another live process is not claimed.
        dead = await asyncio.to_thread(self._dead_owner, job_id)
        if not await asyncio.to_thread(self.store.claim, job_id, self.owner, self.lease_s, dead):
            return
        job = asyncio.current_task()
        assert job is not None
        keeper = asyncio.get_running_loop().create_task(self._keep_lease(job_id, job))
        try:
            await self._grade_job(job_id, homework)
        finally:
            keeper.cancel()

    def _dead_owner(self, job_id: str) -> tuple[str, ...]:
        owner = next((o for j, o, _ in self.store.leases() if j == job_id), None)
        return (owner,) if owner is not None and _dead(owner) else ()

    async def _keep_lease(self, job_id: str, job: asyncio.Task[None]) -> None:
        """Renew the lease while the job runs; stop the job once it is lost (cancelled, deleted, or taken
        over after this process stalled past the lease): its new owner, if any, goes on."""
        while True:
            await asyncio.sleep(self.lease_s / 4)
            try:
                held = await asyncio.to_thread(self.store.renew, job_id, self.owner, self.lease_s)
            except StoreUnavailable:
                continue  # nobody else can write the store either
            if not held:
                log.info("homework job %s: lease lost (cancelled, deleted or taken over); stopping", job_id)
                job.cancel()
                return

    async def _grade_job(self, job_id: str, homework: HomeworkSet | None) -> None:
        try:
            if homework is None:
                homework = await asyncio.to_thread(self.store.homework, job_id)
            keys = await self._key_problems(job_id, homework.problems)
            await self._check_submissions(job_id, homework, keys)
            await asyncio.to_thread(self.store.transition, job_id, "completed", ("running",))
        except (asyncio.CancelledError, StoreUnavailable):
            raise
        except Exception as exc:
            if await asyncio.to_thread(self.store.status, job_id) is None:
                # deleted meanwhile (through another process sharing the store): nothing failed
                log.info("homework job %s was deleted while it ran; it stops", job_id)
                return
            log.exception("homework job %s failed", job_id)
            error = f"{type(exc).__name__}: {exc}"
            await asyncio.to_thread(self.store.transition, job_id, "failed", ("running",), error)

    async def _key_problems(self, job_id: str, problems: list[Problem]) -> dict[str, ProblemKey]:
        keys = await asyncio.to_thread(self.store.keys, job_id)

        async def key_and_save(problem: Problem) -> None:
            key = await self._key(problem)
            # at once: a crash keeps it; and grade with the stored key, which may be another process's
            keys[problem.id] = await asyncio.to_thread(self.store.save_key, job_id, key)

        await asyncio.gather(*(key_and_save(p) for p in problems if p.id not in keys))
        return keys

    async def _key(self, problem: Problem) -> ProblemKey:
        if problem.reference is not None:
            return ProblemKey(problem_id=problem.id, answer=problem.reference, source="reference")
        if self.keyer is None:
            return _unavailable(problem, "no solver is configured to key problems without a reference")
        for delay in (*self.key_retry_s, None):
            try:
                async with self._solve_slots:
                    solved = await self.keyer(problem.problem)
                break
            except KeyUnavailable as exc:  # an outage of the model server must not leave the set unkeyed
                if delay is None:
                    tries = len(self.key_retry_s) + 1
                    return _unavailable(problem, f"the solver could not run ({tries} tries): {exc}")
                log.warning("solving problem %s failed (%s); trying again in %g s", problem.id, exc, delay)
                await asyncio.sleep(delay)
            except Exception as exc:
                log.warning("solving problem %s failed: %s", problem.id, exc)
                return _unavailable(problem, f"the solver failed: {type(exc).__name__}: {exc}")
        if solved.answer is None:
            return _unavailable(problem, "the solver found no answer", solved.trace)
        return ProblemKey(
            problem_id=problem.id,
            answer=solved.answer,
            source="solver",
            confidence=solved.confidence,
            needs_review=solved.confidence < self.review_threshold,
            votes=solved.votes,
            trace=solved.trace,
        )

    async def _check_submissions(
        self, job_id: str, homework: HomeworkSet, keys: dict[str, ProblemKey]
    ) -> None:
        done = {(v.student, v.problem_id) for v in await asyncio.to_thread(self.store.verdicts, job_id)}
        pending = [s for s in homework.submissions if (s.student, s.problem_id) not in done]
        points = {p.id: p.points for p in homework.problems}
        for start in range(0, len(pending), self.batch_size):
            if not await self._still_running(job_id):
                return
            batch = pending[start : start + self.batch_size]
            graded = await asyncio.gather(
                *(self._grade(s, keys[s.problem_id], points[s.problem_id], homework.strict) for s in batch)
            )
            await asyncio.to_thread(self.store.save_verdicts, job_id, graded)

    async def _grade(self, sub: Submission, key: ProblemKey, points: float, strict: bool) -> ItemVerdict:
        if key.answer is None:
            verdict = Verdict(False, "no_reference", key.error or "the problem has no answer key")
        else:
            verdict = await self.pool.check(key.answer, sub.answer, strict)
        return ItemVerdict(
            student=sub.student,
            problem_id=sub.problem_id,
            answer=sub.answer,
            answer_parsed=verdict.answer_parsed,
            equivalent=verdict.equivalent,
            reason=verdict.reason,
            message=verdict.message,
            points=points if verdict.equivalent else 0.0,
            max_points=points,
        )

    async def _still_running(self, job_id: str) -> bool:
        return await asyncio.to_thread(self.store.status, job_id) == "running"


def _owner_id() -> str:
    """host/pid/start time/random: unique to this runner, and enough for another process on the same host
    to tell whether the runner's process still exists (a pid is reused, its start time is not)."""
    pid = os.getpid()
    return f"{socket.gethostname()}/{pid}/{_start_ticks(pid)}/{uuid.uuid4().hex[:12]}"


def _start_ticks(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "?"
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22, starttime, in clock ticks since boot


def _dead(owner: str) -> bool:
    """True only when `owner` ran on this host and its process is gone (its lease need not be waited out).
    Elsewhere, or unknown, it is alive until its lease expires."""
    host, _, rest = owner.partition("/")
    pid, _, rest = rest.partition("/")
    ticks = rest.partition("/")[0]
    if host != socket.gethostname() or not pid.isdigit() or ticks == "?":
        return False
    return _start_ticks(int(pid)) != ticks


def _unavailable(problem: Problem, error: str, trace: str | None = None) -> ProblemKey:
    return ProblemKey(
        problem_id=problem.id, answer=None, source="unavailable", confidence=0.0, needs_review=True,
        trace=trace, error=error,
    )  # fmt: skip
