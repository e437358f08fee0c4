"""Killing by uid reaches exactly one uid, and concurrent servers never share a uid range."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess

import pytest
from sandbox_helpers import uid_processes

from sandbox import Sandbox
from sandbox.confine import kill_uid

SLEEP = shutil.which("sleep") or "/bin/sleep"


def test_kill_uid_kills_that_uid_only() -> None:
    victims = [subprocess.Popen([SLEEP, "60"], user=65101, group=65101) for _ in range(2)]
    bystander = subprocess.Popen([SLEEP, "60"], user=65102, group=65102)
    try:
        kill_uid(65101)
        for proc in victims:
            assert proc.wait(5) == -9
        assert bystander.poll() is None  # another uid is untouched, and so is this (root) process
        assert os.getresuid() == (0, 0, 0)
        assert uid_processes(65101, 65101) == []
    finally:
        bystander.kill()
        bystander.wait()


def test_kill_uid_refuses_root() -> None:
    with pytest.raises(ValueError, match="non-root"):
        kill_uid(0)


@pytest.mark.asyncio(loop_scope="session")
async def test_concurrent_servers_claim_disjoint_uid_ranges(secret_in_environment) -> None:
    async with Sandbox(pool_size=1) as a, Sandbox(pool_size=1) as b:
        ua, ub = (await a.ping())["uids"], (await b.ping())["uids"]
        assert ua[1] < ub[0] or ub[1] < ua[0]
        ra, rb = await asyncio.gather(
            a.run("import os\nprint(os.getuid())"), b.run("import os\nprint(os.getuid())")
        )
        assert ua[0] <= int(ra.stdout) <= ua[1] and ub[0] <= int(rb.stdout) <= ub[1]


@pytest.mark.asyncio(loop_scope="session")
async def test_a_new_server_kills_what_an_old_one_left_in_its_uid_range(secret_in_environment) -> None:
    # A process of a sandbox uid can outlive a server that was killed (SIGKILL, OOM) while it ran; the
    # server that claims the range next kills it before it serves, not when that uid comes up again.
    base = 300_000 + (os.getpid() % 1000) * 1024  # a range no other server of the suite claims
    leftover = subprocess.Popen([SLEEP, "60"], user=base + 100, group=base + 100)  # noqa: ASYNC220
    try:
        async with Sandbox(pool_size=1, server_args=("--uid-base", str(base))) as sb:
            assert (await sb.ping())["uids"][0] == base
            assert await asyncio.to_thread(leftover.wait, 10) == -9
    finally:
        leftover.kill()
        leftover.wait()


@pytest.mark.asyncio(loop_scope="session")
async def test_ranges_of_other_bases_and_sizes_never_overlap(secret_in_environment) -> None:
    # A server asking for 3 uids inside another's 128 must move above them: a starting server kills
    # whatever runs in its range, so an overlap would kill the other server's children.
    base = 400_000 + (os.getpid() % 1000) * 1024  # a range no other server of the suite claims
    async with Sandbox(pool_size=1, server_args=("--uid-base", str(base))) as a:
        ua = (await a.ping())["uids"]
        async with Sandbox(pool_size=1, server_args=("--uid-base", str(base + 5), "--uid-count", "3")) as b:
            ub = (await b.ping())["uids"]
            assert ub[1] - ub[0] == 2 and (ua[1] < ub[0] or ub[1] < ua[0]), (ua, ub)
            assert (await b.run("print(6 * 7)")).stdout == "42\n"
        result = await a.run("print(6 * 7)")
        assert result.status == "ok" and result.stdout == "42\n", result
