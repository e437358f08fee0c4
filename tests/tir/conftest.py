"""The scripted model server (its own process) and helpers that write what real servers send."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app import processes
from app.processes import free_port
from sandbox import Sandbox
from tests.conftest import Proc, start_process


@dataclass
class Scripted:
    proc: Proc

    @property
    def url(self) -> str:
        return self.proc.url

    def play(self, *responses: dict[str, Any]) -> None:
        """The responses the next model requests get, in order (the last one repeats)."""
        base = self.url.removesuffix("/v1")
        httpx.put(f"{base}/script", json=list(responses), timeout=5).raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        base = self.url.removesuffix("/v1")
        return httpx.get(f"{base}/requests", timeout=5).json()


@pytest.fixture(scope="session")
def scripted() -> Iterator[Scripted]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_process(
        "scripted", ["-m", "tests.tir.scripted_model", str(port)], f"{base}/v1/models", f"{base}/v1", {}
    )
    try:
        yield Scripted(proc)
    finally:
        processes.stop(proc.popen)


@pytest.fixture
async def sandbox(sandbox_socket: str) -> AsyncIterator[Sandbox]:
    """A client of the session's real sandbox server."""
    async with Sandbox(sandbox_socket, timeout=2) as sb:
        yield sb


def body(text: str, finish: str | None = "stop", **choice: Any) -> dict[str, Any]:
    """A non-streamed /v1/completions answer."""
    payload = {"choices": [{"index": 0, "text": text, "finish_reason": finish, **choice}]}
    return {"status": 200, "chunks": [json.dumps(payload)]}


def sse(
    *events: str | dict[str, Any], done: str | None = "data: [DONE]\n\n", **response: Any
) -> dict[str, Any]:
    """A streamed answer: dict events become `data:` lines, strings are sent verbatim."""
    chunks = [e if isinstance(e, str) else f"data: {json.dumps(e)}\n\n" for e in events]
    if done:
        chunks.append(done)
    return {"status": 200, "headers": {"Content-Type": "text/event-stream"}, "chunks": chunks, **response}


def piece(text: str, finish: str | None = None, **choice: Any) -> dict[str, Any]:
    """One streamed /v1/completions chunk."""
    return {"choices": [{"index": 0, "text": text, "finish_reason": finish, **choice}]}


def error(status: int, message: str, **headers: str) -> dict[str, Any]:
    payload = {"error": {"message": message, "type": "BadRequestError", "code": status}}
    return {"status": status, "headers": headers, "chunks": [json.dumps(payload)]}
