"""A failing model server gives the documented status and message from /solve, within the deadline."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Proc, StartService, free_port, start_process

READ_TIMEOUT_S = 1.0
DEADLINE_S = 4.0
FAULT_SETTINGS = {
    "model_read_timeout_s": READ_TIMEOUT_S,
    "request_deadline_s": DEADLINE_S,
    "model_retries": 2,
    "model_retry_backoff_s": 0.05,
    "model_connect_timeout_s": 1.0,
}
PROBLEM = {"problem": "What is six times seven?"}


@pytest.fixture(scope="module")
def faulty() -> Iterator[Proc]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_process(
        "faulty-model",
        ["-m", "tests.api.faulty_model", str(port)],
        f"{base}/control",
        base,
        {},
    )
    yield proc
    proc.stop()


@pytest.fixture(scope="module", params=[True, False], ids=["model-stream", "model-json"])
def faulty_service(request, faulty: Proc, start_service: StartService) -> Proc:
    """The service against the faulty server, once streaming from the model and once not."""
    return start_service(f"{faulty.url}/v1", stream_from_model=request.param, **FAULT_SETTINGS)


def set_mode(faulty: Proc, mode: str) -> None:
    assert httpx.post(f"{faulty.url}/control/{mode}").status_code == 200


def requests_seen(faulty: Proc) -> int:
    return httpx.get(f"{faulty.url}/control").json()["requests"]


def solve(service: Proc) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    r = httpx.post(f"{service.url}/solve", json=PROBLEM, timeout=DEADLINE_S + 10)
    return r, time.monotonic() - started


def assert_error(r: httpx.Response, status: int, code: str, words: str) -> None:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert words in error["message"]
    assert "Traceback" not in r.text


def test_healthy_faulty_server_answers(faulty, faulty_service):
    set_mode(faulty, "ok")
    r, _ = solve(faulty_service)
    assert r.status_code == 200 and r.json()["answer"] == "42"


def test_connection_refused_gives_503(start_service):
    # this service starts its own sandbox server (the default outside tests)
    dead = start_service(f"http://127.0.0.1:{free_port()}/v1", own_sandbox=True, **FAULT_SETTINGS)
    r, elapsed = solve(dead)
    assert_error(r, 503, "model_unavailable", "unreachable")
    assert elapsed < DEADLINE_S
    ready = httpx.get(f"{dead.url}/readyz", timeout=10)
    assert ready.status_code == 503 and ready.json()["model"]["ok"] is False


def test_500_is_retried_then_503(faulty, faulty_service):
    set_mode(faulty, "500")
    r, elapsed = solve(faulty_service)
    assert_error(r, 503, "model_server_error", "answered 500")
    assert requests_seen(faulty) == 3  # first try + 2 retries
    assert elapsed < DEADLINE_S


def test_other_4xx_is_not_retried(faulty, faulty_service):
    set_mode(faulty, "400")
    r, _ = solve(faulty_service)
    assert_error(r, 503, "model_rejected", "unknown model")
    assert requests_seen(faulty) == 1


def test_429_then_success_honours_retry_after(faulty, faulty_service):
    set_mode(faulty, "429:1")
    r, elapsed = solve(faulty_service)
    assert r.status_code == 200, r.text
    assert r.json()["answer"] == "42"
    assert requests_seen(faulty) == 2
    assert elapsed >= 0.9  # waited for Retry-After: 1, not our 0.05 s backoff


def test_429_forever_gives_503(faulty, faulty_service):
    set_mode(faulty, "429:100")
    r, _ = solve(faulty_service)
    assert_error(r, 503, "model_server_error", "429")


def test_hanging_server_times_out_with_504(faulty, faulty_service):
    set_mode(faulty, "hang")
    r, elapsed = solve(faulty_service)
    assert_error(r, 504, "model_timeout", "read timeout")
    assert elapsed < READ_TIMEOUT_S + 1.5


def test_malformed_json_gives_503(faulty, faulty_service):
    set_mode(faulty, "malformed")
    r, _ = solve(faulty_service)
    assert_error(r, 503, "model_bad_response", "malformed JSON")


def test_response_cut_short_gives_503(faulty, faulty_service):
    set_mode(faulty, "cut")
    r, elapsed = solve(faulty_service)
    assert_error(r, 503, "model_bad_response", "cut the response short")
    assert elapsed < DEADLINE_S


def test_stalled_stream_times_out_with_504(faulty, faulty_service):
    set_mode(faulty, "stream-stall")
    r, elapsed = solve(faulty_service)
    assert_error(r, 504, "model_timeout", "read timeout")
    assert elapsed < READ_TIMEOUT_S + 1.5


def test_endless_stream_is_stopped_at_the_deadline(faulty, faulty_service):
    set_mode(faulty, "stream-endless")
    r, elapsed = solve(faulty_service)
    assert_error(r, 504, "deadline_exceeded", f"{DEADLINE_S:g} s")
    assert DEADLINE_S - 0.5 < elapsed < DEADLINE_S + 1.5


def test_failure_during_sse_ends_with_an_error_event(faulty, faulty_service):
    set_mode(faulty, "500")
    with httpx.stream(
        "POST", f"{faulty_service.url}/solve", json={**PROBLEM, "stream": True}, timeout=10
    ) as r:
        assert r.status_code == 200
        body = r.read().decode()
    assert "event: error" in body and "model_server_error" in body
