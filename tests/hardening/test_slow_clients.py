"""Clients that send their body slowly or never finish it: they hold no solve slot, and a body that does
not arrive within the body timeout gets 408 and a closed connection."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Proc, StartService, free_port, start_process

HALF = "What is one half, as a number?"  # in tests/data: one model call, no code


def _stalled(url: str, path: str) -> socket.socket:
    """A connection that sends its headers and the start of a 100-byte body, then nothing more."""
    host, port = url.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)))
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    conn.sendall(head.encode() + b'{"prob')
    return conn


def test_stalled_bodies_hold_no_solve_slot(start_service: StartService, replay: Proc):
    service = start_service(replay.url, max_active_solves=1, max_queued_solves=0)
    stalled = [_stalled(service.url, "/solve") for _ in range(3)]
    try:
        time.sleep(0.5)
        r = httpx.post(f"{service.url}/solve", json={"problem": HALF}, timeout=30)
        assert r.status_code == 200, r.text
    finally:
        for conn in stalled:
            conn.close()
    service.stop()


@pytest.fixture(scope="module")
def impatient(replay: Proc, sandbox_socket: str) -> Iterator[Proc]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "TIRSOLVE_MODEL_BASE_URL": replay.url,
        "TIRSOLVE_MODEL_NAME": "replay",
        "TIRSOLVE_SANDBOX_SOCKET": sandbox_socket,
    }
    args = ["-m", "tests.hardening.short_body_timeout", str(port), "1.5"]
    proc = start_process("impatient", args, f"{base}/healthz", base, env)
    yield proc
    proc.stop()


@pytest.mark.parametrize("path", ["/solve", "/homework"])
def test_a_body_that_never_arrives_gets_408_and_the_connection_closes(impatient: Proc, path: str):
    conn = _stalled(impatient.url, path)
    conn.settimeout(10)
    started = time.monotonic()
    answer = b""
    while chunk := conn.recv(4096):  # until the service closes the connection
        answer += chunk
    conn.close()
    assert 1.4 < time.monotonic() - started < 6
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b'"body_timeout"' in answer and b"1.5 s" in answer


def test_a_slow_but_steady_body_within_the_timeout_is_served(impatient: Proc):
    def trickle() -> Iterator[bytes]:
        for part in (b'{"problem": ', b'"What is one half, ', b'as a number?"}'):
            time.sleep(0.3)
            yield part

    r = httpx.post(
        f"{impatient.url}/solve", content=trickle(), headers={"content-type": "application/json"}, timeout=30
    )
    assert r.status_code == 200, r.text
