"""Fixtures for the sandbox tests: real servers started through the client, on real Unix sockets."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from sandbox_helpers import SECRET

from sandbox import Sandbox


@pytest.fixture(scope="session", autouse=True)
def secret_in_environment() -> None:
    # The client must start the server with an empty environment; this is what must not leak.
    os.environ["SANDBOX_TEST_SECRET"] = SECRET


@pytest.fixture(scope="module")
async def sandbox(secret_in_environment) -> AsyncIterator[Sandbox]:
    async with Sandbox(pool_size=2, timeout=5.0) as sb:
        yield sb


@pytest.fixture(scope="module")
async def tight_sandbox(secret_in_environment) -> AsyncIterator[Sandbox]:
    """Small limits so resource tests finish fast: 1 CPU second, 1 MiB files, 4 KiB of output back."""
    async with Sandbox(
        pool_size=1, timeout=5.0, cpu_seconds=1, file_size_mb=1, output_kb=4, memory_mb=256, tmp_size_mb=4
    ) as sb:
        yield sb
