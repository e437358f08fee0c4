"""The service's link to `sandbox`: start or connect the client, hand the loop typed-error sessions."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from app.config import Settings
from app.tir.errors import SandboxUnavailable
from app.tir.loop import CodeSession, RunResultLike, SessionFactory
from sandbox import Sandbox, SandboxError

__all__ = ["open_sandbox"]

Probe = Callable[[], Awaitable[dict[str, Any]]]


class _Session:
    """A sandbox session whose failures (not the user's code's) surface as `SandboxUnavailable`."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def run(self, code: str, timeout: float | None = None) -> RunResultLike:  # noqa: ASYNC109 (sandbox API)
        try:
            return await self._inner.run(code, timeout=timeout)
        except SandboxError as exc:
            raise SandboxUnavailable(f"sandbox failed: {type(exc).__name__}: {exc}") from exc


async def open_sandbox(settings: Settings, stack: contextlib.AsyncExitStack) -> tuple[SessionFactory, Probe]:
    """Enter a `Sandbox` on `stack`; returns the session factory for the loop and a readiness probe."""
    sandbox = Sandbox(
        settings.sandbox_socket, timeout=settings.sandbox_timeout_s, memory_mb=settings.sandbox_memory_mb
    )
    try:
        sb = await stack.enter_async_context(sandbox)
    except SandboxError as exc:
        raise SandboxUnavailable(f"sandbox could not start: {exc}") from exc

    @contextlib.asynccontextmanager
    async def sessions() -> AsyncIterator[CodeSession]:
        try:
            async with sb.session() as inner:
                yield _Session(inner)
        except SandboxError as exc:
            raise SandboxUnavailable(f"sandbox session failed: {type(exc).__name__}: {exc}") from exc

    async def probe() -> dict[str, Any]:
        result = await sb.run("print(1 + 1)", timeout=5)
        if result.status != "ok" or result.stdout.strip() != "2":
            raise SandboxUnavailable(f"sandbox probe run ended with status {result.status}")
        return {"run": result.status, **await sb.probe()}  # safe, layers, missing_required, ...

    return sessions, probe
