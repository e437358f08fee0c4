"""Sessions: state kept across blocks, isolated between sessions, bounded by deadlines."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sandbox_helpers import FRESH_TMP

from sandbox import Sandbox

# One event loop for the module-scoped servers and the tests that use them.
pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_state_is_kept_across_blocks(sandbox: Sandbox) -> None:
    async with sandbox.session() as s:
        first = await s.run("from sympy import *\nx = symbols('x')\nroots = solve(x**2 - 5*x + 6, x)")
        assert first.ok and first.stdout == ""
        second = await s.run("print(roots, sum(roots))")
        assert second.stdout == "[2, 3] 5\n"
        third = await s.run("def f(n):\n    return n * roots[-1]\nprint(f(4))")
        assert third.stdout == "12\n"


async def test_an_error_does_not_end_the_session(sandbox: Sandbox) -> None:
    async with sandbox.session() as s:
        await s.run("total = 10")
        bad = await s.run("print(totl)")
        assert bad.status == "error" and "NameError" in bad.error and '<cell-2>"' in bad.error
        fixed = await s.run("print(total + 1)")
        assert fixed.stdout == "11\n"


async def test_sessions_are_isolated_from_each_other(sandbox: Sandbox) -> None:
    async with sandbox.session() as a, sandbox.session() as b:
        await a.run("import sympy\nsecret = 'only-in-a'\nsympy.pi = 3\nopen('a.txt', 'w').write('a')")
        result = await b.run("import os, sympy\nprint('secret' in globals(), sympy.pi, os.listdir('.'))")
        assert result.stdout == f"False pi {FRESH_TMP}\n"
        assert (await a.run("print(secret, sympy.pi, open('a.txt').read())")).stdout == "only-in-a 3 a\n"


async def test_one_shot_runs_do_not_see_session_state(sandbox: Sandbox) -> None:
    async with sandbox.session() as s:
        await s.run("shared = 1")
        result = await sandbox.run("print('shared' in globals())")
        assert result.stdout == "False\n"


async def test_timeout_in_a_session_kills_it_and_later_runs_report_killed(sandbox: Sandbox) -> None:
    async with sandbox.session() as s:
        await s.run("x = 1")
        start = time.monotonic()
        timed_out = await s.run("while True:\n    pass", timeout=0.5)
        assert timed_out.status == "timeout"
        assert time.monotonic() - start < 1.0
        assert not s.alive
        later = await s.run("print(x)")
        assert later.status == "killed" and "SessionDead" in later.error


async def test_idle_deadline_ends_the_session(sandbox: Sandbox) -> None:
    async with sandbox.session(idle_timeout=0.3) as s:
        assert (await s.run("y = 2")).ok
        await asyncio.sleep(1.5)
        result = await s.run("print(y)")
        assert result.status == "killed" and "idle" in result.error


async def test_total_deadline_bounds_runs(sandbox: Sandbox) -> None:
    async with sandbox.session(total_timeout=1.0) as s:
        start = time.monotonic()
        result = await s.run("import time\ntime.sleep(30)", timeout=20)
        assert result.status == "timeout"
        assert time.monotonic() - start < 1.6


async def test_memory_error_keeps_the_session_alive(sandbox: Sandbox) -> None:
    async with sandbox.session() as s:
        await s.run("keep = 'still here'")
        assert (await s.run("b = bytearray(3 * 1024**3)")).status == "memory"
        assert (await s.run("print(keep)")).stdout == "still here\n"


async def test_closing_a_session_frees_its_process(sandbox: Sandbox) -> None:
    async with sandbox.session() as s:
        pid = int((await s.run("import os\nprint(os.getpid())")).stdout)
    await asyncio.sleep(0.3)
    assert not Path(f"/proc/{pid}").exists()  # noqa: ASYNC240 - killed and reaped, not even a zombie


async def test_code_left_running_between_blocks_gets_no_cpu(sandbox: Sandbox) -> None:
    # Busy threads that ignore SIGXCPU would otherwise burn the host's CPUs for as long as the
    # session lives (its idle deadline is minutes) while the model writes the next block.
    burn = (
        "import signal, threading, time\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\n"
        "ticks = [0]\n"
        "def burn():\n    while True:\n        ticks[0] += 1\n"
        "for _ in range(2):\n    threading.Thread(target=burn, daemon=True).start()\n"
        "time.sleep(0.05)\nprint('started')"
    )
    usage = "import resource\nr = resource.getrusage(resource.RUSAGE_SELF)\nprint(r.ru_utime + r.ru_stime)"
    async with sandbox.session() as s:
        assert (await s.run(burn)).stdout == "started\n"
        before = float((await s.run(usage)).stdout)
        await asyncio.sleep(1.5)
        after = float((await s.run(usage)).stdout)
        # Only the two short blocks ran in between (a stopped child uses none).
        assert after - before < 0.5, (before, after)
        # The threads still exist and run again while a block does.
        moving = await s.run("t0 = ticks[0]\ntime.sleep(0.1)\nprint(ticks[0] > t0)")
        assert moving.stdout == "True\n", moving


async def test_blocks_sent_from_two_tasks_each_get_their_own_result(sandbox: Sandbox) -> None:
    # One connection carries the session: two blocks in flight at once must not swap or lose replies.
    async with sandbox.session() as s:
        slow = s.run("import time\ntime.sleep(0.3)\nprint('first')")
        results = await asyncio.gather(slow, s.run("print('second')"), s.run("print('third')"))
        assert [r.stdout for r in results] == ["first\n", "second\n", "third\n"], results
        assert (await s.run("print('fourth')")).stdout == "fourth\n"


async def test_an_abandoned_block_never_answers_the_next_one(sandbox: Sandbox) -> None:
    # A caller that gives up on a block (its own timeout) must not get that block's late result as
    # the answer to its next block: the session ends instead.
    async with sandbox.session() as s:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(s.run("import time\ntime.sleep(0.5)\nprint('late')"), 0.1)
        await asyncio.sleep(0.8)
        result = await s.run("print('next')")
        assert result.stdout != "late\n"
        assert result.status == "killed" and "SessionDead" in result.error, result
        assert not s.alive
