"""A client that leaves mid-solve (a timeout, a closed tab): its solve is cancelled, its slot and its model
calls end at once, never at the request deadline."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import Proc, StartService
from tests.hardening.conftest import THREE_ROUNDS, metric

CALLS = "tirsolve_model_calls_total"


@pytest.fixture(scope="module")
def leaving(start_service: StartService, slow_replay: Proc) -> Proc:
    return start_service(slow_replay.url, request_deadline_s=60)


def _settles(url: str) -> tuple[float, float]:
    """Wait (at most 1 s) for no solve to hold a slot; then how many model calls follow in 2.5 s."""
    deadline = time.monotonic() + 1.0
    while metric(url, "tirsolve_solves_active") != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    active = metric(url, "tirsolve_solves_active")
    calls = metric(url, CALLS, outcome="ok")
    time.sleep(2.5)  # a solve left running makes a 1 s model call per round
    return active, metric(url, CALLS, outcome="ok") - calls


def test_a_client_that_gives_up_on_a_plain_solve_cancels_it(leaving: Proc):
    body = {"problem": THREE_ROUNDS, "samples": 2}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{leaving.url}/solve", json=body, timeout=httpx.Timeout(10, read=1.3))
    active, later_calls = _settles(leaving.url)
    assert (active, later_calls) == (0, 0)
    assert '"status": 499' in leaving.log_text()


def test_a_client_that_leaves_a_streamed_solve_cancels_it(leaving: Proc):
    body = {"problem": THREE_ROUNDS, "samples": 2, "stream": True}
    with httpx.stream("POST", f"{leaving.url}/solve", json=body, timeout=30) as r:
        for line in r.iter_lines():
            if line == "event: code":
                break
    active, later_calls = _settles(leaving.url)
    assert (active, later_calls) == (0, 0)


def test_a_client_that_waits_still_gets_its_answer(leaving: Proc):
    r = httpx.post(f"{leaving.url}/solve", json={"problem": THREE_ROUNDS}, timeout=30)
    assert r.status_code == 200 and r.json()["answer"] == "12", r.text
