"""A server whose every uid is held by open sessions answers new requests with a clear error in time."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from sandbox import Sandbox, SandboxBusy

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_runs_and_sessions_fail_busy_when_sessions_hold_every_uid(secret_in_environment) -> None:
    async with Sandbox(pool_size=1, timeout=1.0, server_args=("--uid-count", "2")) as sb:
        async with contextlib.AsyncExitStack() as stack:
            sessions = [await stack.enter_async_context(sb.session()) for _ in range(2)]
            for s in sessions:
                assert (await s.run("print(1)")).stdout == "1\n"
            with pytest.raises(SandboxBusy, match="held by open sessions"):
                await asyncio.wait_for(sb.run("print(2)"), 10)
            with pytest.raises(SandboxBusy, match="held by open sessions"):
                async with sb.session():
                    pass
        # The sessions are closed: their uids serve again.
        result = await asyncio.wait_for(sb.run("print(3)", timeout=5.0), 20)
        assert result.stdout == "3\n", result
