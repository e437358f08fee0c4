"""A solve: N trajectories concurrently (distinct seeds), then a vote over equivalent answers."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace

from app.tir.errors import DeadlineExceeded, SolveError
from app.tir.loop import EventSink, LoopLimits, SessionFactory, check_prompt_fits, run_trajectory
from app.tir.model_client import ModelClient, SamplingParams
from app.tir.prompt import Conversation, Mode, system_prompt_for
from app.tir.recorder import TrajectoryRecorder, trajectory_record
from app.tir.trace import Sample, SolveResult, Timing
from app.tir.voting import Equivalence, normalized_equivalent, vote

__all__ = ["SolveRequest", "Solver"]

_VOTE_GRACE_S = 2.0  # a vote over the samples finished by the deadline gets at least this long


@dataclass(frozen=True, slots=True)
class SolveRequest:
    """A validated request; None means "use the service default"."""

    problem: str
    mode: Mode = "tir"
    samples: int = 1
    max_rounds: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    system_prompt: str | None = None


class Solver:
    """Owns nothing: the model client, sandbox sessions and recorder are handed in by the app's lifespan."""

    def __init__(
        self,
        client: ModelClient,
        sessions: SessionFactory,
        *,
        limits: LoopLimits,
        defaults: SamplingParams,
        deadline_s: float,
        max_concurrent: int = 64,
        equivalent: Equivalence = normalized_equivalent,
        recorder: TrajectoryRecorder | None = None,
    ) -> None:
        self.client = client
        self.sessions = sessions
        self.limits = limits
        self.defaults = defaults
        self.deadline_s = deadline_s
        self.equivalent = equivalent
        self.recorder = recorder
        self._slots = asyncio.Semaphore(max_concurrent)

    def _params(self, req: SolveRequest, index: int) -> SamplingParams:
        d = self.defaults
        return SamplingParams(
            temperature=d.temperature if req.temperature is None else req.temperature,
            top_p=d.top_p if req.top_p is None else req.top_p,
            max_tokens=d.max_tokens if req.max_tokens is None else req.max_tokens,
            seed=(d.seed if req.seed is None else req.seed) + index,
        )

    def _limits_for(self, req: SolveRequest) -> LoopLimits:
        if req.mode == "cot":
            return replace(self.limits, max_rounds=0)  # CoT: code is prose, never run
        if req.max_rounds is not None:
            return replace(self.limits, max_rounds=req.max_rounds)
        return self.limits

    async def _one(
        self, req: SolveRequest, conv: Conversation, limits: LoopLimits, index: int, emit: EventSink | None
    ) -> Sample | SolveError:
        params = self._params(req, index)
        async with self._slots:
            started = time.perf_counter()
            try:
                sample = await run_trajectory(
                    self.client, self.sessions, conv, params, limits, emit=emit, index=index
                )
            except SolveError as exc:
                return exc
            sample.timing.total = (time.perf_counter() - started) * 1000
        if emit is not None:
            await emit({"event": "sample", "sample": index, "answer": sample.answer, "finish": sample.finish})
        return sample

    async def _run_until_deadline(
        self,
        req: SolveRequest,
        conv: Conversation,
        limits: LoopLimits,
        emit: EventSink | None,
        started: float,
    ) -> list[Sample | SolveError]:
        """Every trajectory's outcome; those still running at the deadline are cut (`DeadlineExceeded`)."""
        tasks = [asyncio.create_task(self._one(req, conv, limits, i, emit)) for i in range(req.samples)]
        try:
            await asyncio.wait(tasks, timeout=self.deadline_s - (time.perf_counter() - started))
        finally:
            running = [t for t in tasks if not t.done()]
            for t in running:
                t.cancel()
            if running:
                await asyncio.wait(running)  # their sandbox sessions close before the request answers
        cut = DeadlineExceeded(f"the solve did not finish within {self.deadline_s:g} s")
        return [cut if t.cancelled() else t.result() for t in tasks]

    async def solve(self, req: SolveRequest, emit: EventSink | None = None) -> SolveResult:
        """Run the request to a voted result; raises `SolveError` when every sample failed or time ran out."""
        started = time.perf_counter()
        system = system_prompt_for(req.mode, req.system_prompt)
        conv = Conversation(system=system, user=req.problem)
        limits = self._limits_for(req)
        check_prompt_fits(conv, limits)
        outcomes = await self._run_until_deadline(req, conv, limits, emit, started)
        samples = [_sample_or_error(o, self._params(req, i).seed) for i, o in enumerate(outcomes)]
        if not any(s.answer for s in samples):
            cut = next((o for o in outcomes if isinstance(o, DeadlineExceeded)), None)
            if cut is not None or all(isinstance(o, SolveError) for o in outcomes):
                raise cut or next(o for o in outcomes if isinstance(o, SolveError))
        remaining = self.deadline_s - (time.perf_counter() - started)
        try:
            async with asyncio.timeout(max(remaining, _VOTE_GRACE_S)):
                outcome = await vote([s.answer for s in samples], self.equivalent)
        except TimeoutError:
            raise DeadlineExceeded(f"the solve did not finish within {self.deadline_s:g} s") from None
        timing = Timing()
        for s in samples:
            timing.add(s.timing)
        timing.total = (time.perf_counter() - started) * 1000
        if self.recorder is not None:
            await self.recorder.record(
                [
                    trajectory_record(req.problem, system, req.mode, self.client.model, s)
                    for s in samples
                    if s.finish != "error"
                ]
            )
        return SolveResult(
            answer=outcome.answer,
            confidence=outcome.confidence,
            votes=outcome.votes,
            samples=samples,
            timing=timing,
            model=self.client.model,
        )


def _sample_or_error(outcome: Sample | SolveError, seed: int) -> Sample:
    if isinstance(outcome, Sample):
        return outcome
    return Sample(seed=seed, finish="error", error=f"{outcome.code}: {outcome.message}")
