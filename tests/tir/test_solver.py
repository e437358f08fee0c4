"""Self-consistency under a deadline: the scripted model server, the real sandbox."""

from __future__ import annotations

import time

from app.tir.loop import LoopLimits
from app.tir.model_client import ModelClient, SamplingParams
from app.tir.solver import Solver, SolveRequest
from sandbox import Sandbox
from tests.tir.conftest import Scripted, piece, sse

ANSWER = "So the answer is $\\boxed{4}$."


async def test_samples_cut_by_the_deadline_do_not_discard_the_finished_ones(
    scripted: Scripted, sandbox: Sandbox
):
    # Requests take the scripted answers in arrival order: one sample answers at once, the other's stream
    # stalls after its first chunk (a server still sending, too slowly for the deadline).
    stalled = sse(piece("Let me think"), piece(" some more."), done=None, delay=30)
    scripted.play(sse(piece(ANSWER, "stop")), stalled)
    async with ModelClient(scripted.url, "scripted") as client:
        solver = Solver(
            client, sandbox.session, limits=LoopLimits(), defaults=SamplingParams(), deadline_s=1.5
        )
        started = time.monotonic()
        result = await solver.solve(SolveRequest(problem="What is 2 + 2?", samples=2))
    assert time.monotonic() - started < 5  # the deadline, then the cut sample closes its sandbox session
    assert result.answer == "4" and result.confidence == 0.5
    finishes = sorted(s.finish for s in result.samples)
    assert finishes == ["answered", "error"]
    cut = next(s for s in result.samples if s.finish == "error")
    assert cut.error is not None and cut.error.startswith("deadline_exceeded")
