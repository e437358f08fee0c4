"""Concurrency: many runs from one event loop, and the bounded wait queue."""

from __future__ import annotations

import asyncio

import pytest

from sandbox import Sandbox, SandboxBusy

# One event loop for the module-scoped servers and the tests that use them.
pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_64_concurrent_runs_all_complete_correctly(sandbox: Sandbox) -> None:
    codes = [f"from sympy import *\nx = symbols('x')\nprint(solve(x - {i}, x), {i} ** 2)" for i in range(64)]
    results = await asyncio.gather(*(sandbox.run(code, timeout=60) for code in codes))
    for i, result in enumerate(results):
        assert result.status == "ok", result
        assert result.stdout == f"[{i}] {i * i}\n"


async def test_concurrent_sessions_keep_their_own_state(sandbox: Sandbox) -> None:
    async def solve_in_session(i: int) -> str:
        async with sandbox.session() as s:
            await s.run(f"k = {i}")
            await s.run("k = k * 10")
            return (await s.run("print(k)")).stdout

    outputs = await asyncio.gather(*(solve_in_session(i) for i in range(8)))
    assert outputs == [f"{i * 10}\n" for i in range(8)]


async def test_full_queue_raises_busy(secret_in_environment) -> None:
    async with Sandbox(pool_size=1, max_inflight=1, max_queue=2) as sb:
        tasks = [asyncio.create_task(sb.run("import time\ntime.sleep(0.5)", timeout=5)) for _ in range(3)]
        await asyncio.sleep(0.1)  # one runs, two wait
        with pytest.raises(SandboxBusy, match="queue is full"):
            await sb.run("print(1)")
        results = await asyncio.gather(*tasks)
        assert [r.status for r in results] == ["ok"] * 3
        assert (await sb.run("print(1)")).stdout == "1\n"
