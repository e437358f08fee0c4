"""Backpressure: bounded running and waiting solves, 429 + Retry-After beyond; deadlines cover every round."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import Proc, StartService
from tests.hardening.conftest import THREE_ROUNDS, metric

# Three model calls of 1 s each: a solve holds its slot for ~3 s.
ACTIVE, QUEUED = 2, 2


@pytest.fixture(scope="module")
def small_service(start_service: StartService, slow_replay: Proc) -> Proc:
    return start_service(
        slow_replay.url, max_active_solves=ACTIVE, max_queued_solves=QUEUED, queue_timeout_s=8
    )


def _solve(url: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    r = httpx.post(f"{url}/solve", json={"problem": THREE_ROUNDS}, timeout=60)
    return r, time.monotonic() - started


def test_beyond_running_and_waiting_bounds_requests_get_429_at_once(small_service: Proc):
    n = 8
    rejected_before = metric(small_service.url, "tirsolve_solves_rejected_total", reason="queue_full")
    with ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(_solve, small_service.url) for _ in range(n)]
        time.sleep(1.0)  # all have arrived; two run, two wait
        assert metric(small_service.url, "tirsolve_solves_active") == ACTIVE
        assert metric(small_service.url, "tirsolve_solves_queued") == QUEUED
        health = httpx.get(f"{small_service.url}/healthz", timeout=2)
        assert health.status_code == 200  # a saturated service still answers its probes
        results = [f.result() for f in futures]
    ok = [(r, t) for r, t in results if r.status_code == 200]
    shed = [(r, t) for r, t in results if r.status_code == 429]
    assert len(ok) == ACTIVE + QUEUED and len(shed) == n - ACTIVE - QUEUED, [r.text for r, _ in results]
    assert all(r.json()["answer"] == "12" for r, _ in ok)
    fastest_solve = min(t for _, t in ok)  # >= 3 s: three 1 s model calls
    for r, elapsed in shed:
        assert elapsed < fastest_solve - 0.5, [t for _, t in results]  # refused at once, not after a wait
        assert r.json()["error"]["code"] == "overloaded"
        assert "at capacity" in r.json()["error"]["message"]
        assert 1 <= int(r.headers["Retry-After"]) <= 60
    # the queued ones waited for a slot: roughly one solve longer than the first two
    assert max(t for _, t in ok) > min(t for _, t in ok) + 2
    rejected = metric(small_service.url, "tirsolve_solves_rejected_total", reason="queue_full")
    assert rejected - rejected_before == n - ACTIVE - QUEUED
    assert metric(small_service.url, "tirsolve_solves_active") == 0
    assert metric(small_service.url, "tirsolve_solves_queued") == 0


def test_waiting_longer_than_the_queue_timeout_gives_429(start_service: StartService, slow_replay: Proc):
    service = start_service(slow_replay.url, max_active_solves=1, max_queued_solves=4, queue_timeout_s=0.5)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(_solve, service.url)
        time.sleep(0.3)
        second, elapsed = _solve(service.url)
        assert first.result()[0].status_code == 200
    assert second.status_code == 429, second.text
    assert "within 0.5 s" in second.json()["error"]["message"]
    assert "Retry-After" in second.headers
    assert 0.4 < elapsed < 2.0
    assert metric(service.url, "tirsolve_solves_rejected_total", reason="queue_timeout") == 1


def test_the_deadline_covers_every_round(start_service: StartService, slow_replay: Proc):
    service = start_service(slow_replay.url, request_deadline_s=2)
    r, elapsed = _solve(service.url)  # three 1 s model calls cannot fit in 2 s
    assert r.status_code == 504 and r.json()["error"]["code"] == "deadline_exceeded"
    assert 1.8 < elapsed < 3.5
    assert metric(service.url, "tirsolve_solves_total", outcome="deadline_exceeded") == 1


def test_an_overloaded_sse_request_is_refused_before_streaming(
    start_service: StartService, slow_replay: Proc
):
    service = start_service(slow_replay.url, max_active_solves=1, max_queued_solves=0)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(_solve, service.url)
        time.sleep(0.3)
        r = httpx.post(f"{service.url}/solve", json={"problem": THREE_ROUNDS, "stream": True}, timeout=10)
        assert running.result()[0].status_code == 200
    assert r.status_code == 429 and r.headers["content-type"] == "application/json"
