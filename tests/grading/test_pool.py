"""CheckerPool: checks in real worker processes, a hard time bound, and recovery after a kill."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import REGISTRY

from app.grading import CheckerPool

pytestmark = pytest.mark.asyncio(loop_scope="session")

RUNAWAY = "5^(5^(5^(5^5)))"


async def test_runaway_check_times_out_within_the_bound_while_other_checks_go_on(pool: CheckerPool) -> None:
    replaced_before = pool.replaced
    timeouts_before = REGISTRY.get_sample_value("tirsolve_checks_total", {"reason": "timeout"}) or 0.0
    started = time.monotonic()
    runaway = asyncio.create_task(pool.check("3", RUNAWAY))
    await asyncio.sleep(0.05)  # the runaway holds one worker; the other keeps serving
    finished_while_running = []
    for i in range(1, 21):
        verdict = await pool.check(r"\frac{1}{2}", f"{i}/{2 * i}")
        assert verdict.equivalent, verdict
        finished_while_running.append(not runaway.done())
    assert all(finished_while_running)
    verdict = await runaway
    elapsed = time.monotonic() - started
    assert (verdict.equivalent, verdict.reason) == (False, "timeout")
    assert 2.0 <= elapsed < 3.5  # the 2 s bound plus kill and scheduling slack
    assert pool.replaced == replaced_before + 1
    assert REGISTRY.get_sample_value("tirsolve_checks_total", {"reason": "timeout"}) == timeouts_before + 1
    # The replacement worker serves: the pool is back to full strength.
    verdicts = await pool.check_many([("[1,2]", "[1,2)"), ("1,-2", "-2,1")] * 4)
    assert [v.equivalent for v in verdicts] == [False, True] * 4


async def test_several_runaways_at_once_all_time_out_and_the_pool_recovers() -> None:
    async with CheckerPool(workers=2, timeout=1.0) as small:
        started = time.monotonic()
        verdicts = await small.check_many([("3", RUNAWAY)] * 3 + [("2", "2")])
        assert [v.reason for v in verdicts] == ["timeout"] * 3 + ["equal_string"]
        assert time.monotonic() - started < 5.0
        assert small.replaced == 3
        assert await small.equivalent(r"\frac{1}{2}", "0.5")


async def test_equivalent_is_the_voting_api(pool: CheckerPool) -> None:
    assert await pool.equivalent(r"\frac{1}{2}", "0.5")
    assert await pool.equivalent("x=5", "5")
    assert not await pool.equivalent("5", "0.05")


async def test_check_many_keeps_order_and_strict(pool: CheckerPool) -> None:
    pairs = [(r"\frac{1}{2}", "2/4"), (r"\frac{1}{2}", "1/2"), ("5", "6")]
    assert [v.equivalent for v in await pool.check_many(pairs)] == [True, True, False]
    strict = await pool.check_many(pairs, strict=True)
    assert [v.reason for v in strict] == ["not_simplified", "equal_numeric", "not_equal"]


async def test_a_cancelled_check_does_not_leave_a_busy_worker_behind() -> None:
    async with CheckerPool(workers=1, timeout=5.0) as one:
        task = asyncio.create_task(one.check("3", RUNAWAY))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        verdict = await asyncio.wait_for(one.check("4", "4"), 10)
        assert verdict.equivalent


async def test_closed_pool_refuses_work() -> None:
    p = CheckerPool(workers=1, timeout=1.0)
    await p.start()
    p.close()
    with pytest.raises(RuntimeError):
        await p.check("1", "1")


async def test_bad_pool_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="workers"):
        CheckerPool(workers=0)
    with pytest.raises(ValueError, match="timeout"):
        CheckerPool(timeout=0)


async def test_the_solver_vote_groups_answers_with_the_pool(pool: CheckerPool) -> None:
    from app.tir.voting import vote

    outcome = await vote([r"\frac{1}{2}", "0.5", "3", "1/2", r"50\%"], pool.equivalent)
    assert outcome.answer == r"\frac{1}{2}"
    assert outcome.confidence == pytest.approx(4 / 5)
    assert sorted(v.count for v in outcome.votes) == [1, 4]
