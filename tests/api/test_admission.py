"""Admission of homework jobs and of request bodies, and draining on SIGTERM, on real service processes.

A slow replay server (every model call waits) keeps jobs that key a problem with the solver unfinished for a
few seconds, and keeps a solve in flight while the service drains.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import Proc, StartReplay, StartService

LATENCY_S = 1.5
FIX = "What is the sum of the squares of the first 10 positive integers?"  # three model calls, answer 385
COT = "Simplify 2/4 and write it as a LaTeX fraction."  # one model call
SOLVE_LIMIT, HOMEWORK_LIMIT = 262_144, 4_194_304  # the defaults


@pytest.fixture(scope="module")
def slow_replay(start_replay: StartReplay) -> Proc:
    return start_replay(extra=["--latency-ms", str(int(LATENCY_S * 1000))])


def slow_job() -> dict:
    """A set whose only problem has no reference: the solver keys it through the slow replay server."""
    return {
        "problems": [{"id": "sq", "problem": FIX}],
        "submissions": [{"student": "ann", "problem_id": "sq", "answer": "385"}],
    }


def big_job(n: int) -> dict:
    return {
        "problems": [{"id": "p", "reference": "4"}],
        "submissions": [{"student": f"student-{i:06d}", "problem_id": "p", "answer": "4"} for i in range(n)],
    }


def wait_finished(client: httpx.Client, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while (info := client.get(f"/homework/{job_id}").json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, info
        time.sleep(0.1)
    return info


def rejected_total(client: httpx.Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("tirsolve_homework_rejected_total "):
            return float(line.split()[1])
    return 0.0


def assert_too_many_jobs(r: httpx.Response, unfinished: int, limit: int) -> None:
    assert r.status_code == 429, r.text
    assert r.headers["content-type"] == "application/json"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    error = r.json()["error"]
    assert error["code"] == "too_many_jobs"
    assert f"{unfinished} homework jobs are unfinished" in error["message"], error
    assert f"at most {limit}" in error["message"], error


# --- a bound on unfinished homework jobs -------------------------------------------------------------


@pytest.fixture(scope="module")
def bounded(start_service: StartService, slow_replay: Proc, tmp_path_factory) -> Iterator[httpx.Client]:
    store = tmp_path_factory.mktemp("bounded") / "jobs.sqlite3"
    service = start_service(slow_replay.url, grading_store_path=store, max_unfinished_jobs=2, key_samples=1)
    with httpx.Client(base_url=service.url, timeout=30) as client:
        yield client
    service.stop()


def test_the_job_beyond_the_bound_gets_429_and_an_ended_job_frees_its_place(bounded: httpx.Client):
    first = [bounded.post("/homework", json=slow_job()) for _ in range(2)]
    assert [r.status_code for r in first] == [202, 202], [r.text for r in first]
    assert_too_many_jobs(bounded.post("/homework", json=slow_job()), unfinished=2, limit=2)
    assert rejected_total(bounded) == 1

    # both end on their own (keyed by the solver, then graded): their places are free again
    for r in first:
        assert wait_finished(bounded, r.json()["id"])["status"] == "completed"
    second = [bounded.post("/homework", json=slow_job()) for _ in range(2)]
    assert [r.status_code for r in second] == [202, 202], [r.text for r in second]
    assert_too_many_jobs(bounded.post("/homework", json=slow_job()), unfinished=2, limit=2)

    # a cancelled job is finished too
    assert bounded.post(f"/homework/{second[0].json()['id']}/cancel").json()["status"] == "cancelled"
    third = bounded.post("/homework", json=slow_job())
    assert third.status_code == 202, third.text
    assert rejected_total(bounded) == 2
    for r in (second[1], third):
        bounded.post(f"/homework/{r.json()['id']}/cancel")


def test_jobs_resumed_at_start_count_toward_the_bound_but_all_run(
    start_service: StartService, slow_replay: Proc, tmp_path: Path
):
    store = tmp_path / "jobs.sqlite3"
    first = start_service(slow_replay.url, grading_store_path=store, max_unfinished_jobs=3, key_samples=1)
    ids = [httpx.post(f"{first.url}/homework", json=slow_job(), timeout=30).json()["id"] for _ in range(3)]
    first.stop()  # mid-keying: the jobs stay unfinished in the store
    # the next process allows one unfinished job, but resumes all three
    second = start_service(slow_replay.url, grading_store_path=store, max_unfinished_jobs=1, key_samples=1)
    with httpx.Client(base_url=second.url, timeout=30) as client:
        assert_too_many_jobs(client.post("/homework", json=slow_job()), unfinished=3, limit=1)
        assert [wait_finished(client, i)["status"] for i in ids] == ["completed"] * 3
        assert client.post("/homework", json=slow_job()).status_code == 202
    second.stop()


# --- body limits: homework sets have their own ----------------------------------------------------------


@pytest.fixture(scope="module")
def limits(start_service: StartService, replay: Proc, tmp_path_factory) -> Iterator[httpx.Client]:
    store = tmp_path_factory.mktemp("limits") / "jobs.sqlite3"
    service = start_service(replay.url, grading_store_path=store)
    with httpx.Client(base_url=service.url, timeout=60) as client:
        yield client
    service.stop()


def test_a_homework_set_over_the_solve_limit_is_accepted(limits: httpx.Client):
    body = big_job(6_000)
    size = len(httpx.Request("POST", "/", json=body).content)
    assert SOLVE_LIMIT < size < HOMEWORK_LIMIT
    r = limits.post("/homework", json=body)
    assert r.status_code == 202, r.text
    assert r.json()["progress"]["submissions_total"] == 6_000
    limits.post(f"/homework/{r.json()['id']}/cancel")
    # /solve keeps the small limit
    r = limits.post("/solve", json={"problem": "x" * (SOLVE_LIMIT + 1)})
    assert r.status_code == 413
    assert r.json()["error"]["message"] == f"request body exceeds {SOLVE_LIMIT} bytes (256 KiB)"


def test_a_homework_set_over_its_limit_gets_413_naming_it(limits: httpx.Client):
    body = big_job(75_000)
    assert len(httpx.Request("POST", "/", json=body).content) > HOMEWORK_LIMIT
    r = limits.post("/homework", json=body)
    assert r.status_code == 413, r.text[:500]
    error = r.json()["error"]
    assert error["code"] == "body_too_large"
    assert error["message"] == (
        f"request body exceeds {HOMEWORK_LIMIT} bytes (4 MiB), the limit for POST /homework"
    )

    def chunks():  # no Content-Length: the limit holds for streamed bodies too
        yield b'{"problems": [{"id": "p", "reference": "4"}], "submissions": ['
        for _ in range(HOMEWORK_LIMIT // 50_000 + 1):
            yield b'{"student": "s", "problem_id": "p", "answer": "4"},' * 1_000

    r = limits.post("/homework", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text[:500]
    assert r.json()["error"]["code"] == "body_too_large" and "POST /homework" in r.json()["error"]["message"]


# --- draining on SIGTERM ------------------------------------------------------------------------------


def test_after_sigterm_readyz_says_draining_while_the_solve_in_flight_finishes(
    start_service: StartService, slow_replay: Proc
):
    drain = 3.0
    service = start_service(slow_replay.url, shutdown_drain_s=drain, shutdown_grace_s=10)

    def solve(body: dict) -> httpx.Response:
        return httpx.post(f"{service.url}/solve", json=body, timeout=30)

    with ThreadPoolExecutor(1) as pool:
        assert httpx.get(f"{service.url}/readyz", timeout=10).status_code == 200
        in_flight = pool.submit(solve, {"problem": FIX})  # three slow model calls
        time.sleep(1.0)
        sigterm_at = time.monotonic()
        service.popen.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        ready = httpx.get(f"{service.url}/readyz", timeout=10)
        assert ready.status_code == 503, ready.text
        assert ready.json()["status"] == "draining"
        assert httpx.get(f"{service.url}/healthz").status_code == 200  # alive, only asking for no traffic
        assert solve({"problem": COT, "mode": "cot"}).status_code == 200  # what still arrives is served
        solved = in_flight.result()
        assert solved.status_code == 200 and solved.json()["answer"] == "385"
        service.popen.wait(timeout=drain + 15)
    assert time.monotonic() - sigterm_at >= drain  # it kept serving for the drain period
    assert service.popen.returncode in (0, -signal.SIGTERM)
    assert "Traceback" not in service.log_text()
