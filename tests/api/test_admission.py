"""Admission of homework jobs and of request bodies, and draining on SIGTERM, on real service processes.

A slow replay server (every model call waits) keeps jobs that key a problem with the solver unfinished for a
few seconds, and keeps a solve in flight while the service drains. Limits and bounds hold the same under a
path prefix: behind a proxy that strips it (TIRSOLVE_ROOT_PATH) and mounted as a sub-application.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import Proc, StartReplay, StartService, free_port, start_process

LATENCY_S = 1.5
FIX = "What is the sum of the squares of the first 10 positive integers?"  # three model calls, answer 385
COT = "Simplify 2/4 and write it as a LaTeX fraction."  # one model call
SOLVE_LIMIT, HOMEWORK_LIMIT = 262_144, 4_194_304  # the defaults
PREFIX = "/tirsolve"


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


def wait_finished(client: httpx.Client, job_id: str, timeout: float = 60, prefix: str = "") -> dict:
    deadline = time.monotonic() + timeout
    while (info := client.get(f"{prefix}/homework/{job_id}").json())["status"] in ("queued", "running"):
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


# --- the same limits and bounds under a path prefix ----------------------------------------------------


@dataclass
class Prefixed:
    client: httpx.Client
    wire: str  # what a client puts in front of a route: the proxy strips PREFIX, the mount does not


@pytest.fixture(scope="module", params=["root-path", "mounted"])
def prefixed(
    request: pytest.FixtureRequest,
    start_service: StartService,
    slow_replay: Proc,
    sandbox_socket: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Prefixed]:
    """A service under PREFIX with one solve slot and no queue, and room for one unfinished homework job.

    root-path: `tirsolve serve` with TIRSOLVE_ROOT_PATH, as behind a proxy that strips the prefix (uvicorn
    puts it back in front of the path). mounted: the app mounted at PREFIX in a parent app (the path keeps
    it)."""
    store = tmp_path_factory.mktemp(f"prefixed-{request.param}") / "jobs.sqlite3"
    settings = {"max_active_solves": 1, "max_queued_solves": 0, "max_unfinished_jobs": 1, "key_samples": 1}
    if request.param == "root-path":
        service = start_service(slow_replay.url, grading_store_path=store, root_path=PREFIX, **settings)
        wire = ""
    else:
        port = free_port()
        env = {
            "TIRSOLVE_MODEL_BASE_URL": slow_replay.url,
            "TIRSOLVE_MODEL_NAME": "replay",
            "TIRSOLVE_SANDBOX_SOCKET": sandbox_socket,
            "TIRSOLVE_SANDBOX_TIMEOUT_S": "2",
            "TIRSOLVE_REQUEST_DEADLINE_S": "30",
            "TIRSOLVE_GRADING_STORE_PATH": str(store),
        } | {f"TIRSOLVE_{k.upper()}": str(v) for k, v in settings.items()}
        base = f"http://127.0.0.1:{port}"
        args = ["-m", "tests.api.mounted_service", str(port), PREFIX]
        service = start_process("mounted", args, f"{base}{PREFIX}/healthz", base, env)
        wire = PREFIX
    with httpx.Client(base_url=service.url, timeout=60) as client:
        yield Prefixed(client, wire)
    service.stop()


def requests_counted(client: httpx.Client, wire: str, method: str, route: str, status: int) -> float:
    labels = f'method="{method}",route="{route}",status="{status}"'
    for line in client.get(f"{wire}/metrics").text.splitlines():
        if line.startswith(f"tirsolve_http_requests_total{{{labels}}} "):
            return float(line.split()[1])
    return 0.0


def test_under_a_prefix_an_oversized_solve_body_gets_413(prefixed: Prefixed):
    client, wire = prefixed.client, prefixed.wire
    counted = requests_counted(client, wire, "POST", "/solve", 413)
    r = client.post(f"{wire}/solve", json={"problem": "x" * (SOLVE_LIMIT + 1)})
    assert r.status_code == 413, r.text[:500]
    assert r.json()["error"] == {
        "code": "body_too_large",
        "message": f"request body exceeds {SOLVE_LIMIT} bytes (256 KiB)",
    }

    def chunks():  # no Content-Length: the streamed body is cut at the /solve limit too
        yield b'{"problem": "'
        for _ in range(SOLVE_LIMIT // 65_536 + 1):
            yield b"x" * 65_536
        yield b'"}'

    r = client.post(f"{wire}/solve", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text[:500]
    # refused before routing, yet counted under its route, not as `unmatched`
    assert requests_counted(client, wire, "POST", "/solve", 413) == counted + 2


def test_under_a_prefix_a_homework_set_between_the_limits_is_accepted_on_the_homework_route_only(
    prefixed: Prefixed,
):
    client, wire = prefixed.client, prefixed.wire
    body = big_job(6_000)
    assert SOLVE_LIMIT < len(httpx.Request("POST", "/", json=body).content) < HOMEWORK_LIMIT
    r = client.post(f"{wire}/homework", json=body)
    assert r.status_code == 202, r.text[:500]
    job = r.json()["id"]
    assert r.headers["Location"] == f"{PREFIX}/homework/{job}"  # the job's URL, prefix included
    assert r.json()["progress"]["submissions_total"] == 6_000
    try:
        # every other route keeps the general limit, whatever the route
        for route in ("/solve", f"/homework/{job}/cancel"):
            r = client.post(f"{wire}{route}", json=body)
            assert r.status_code == 413, (route, r.text[:500])
            assert r.json()["error"]["message"] == f"request body exceeds {SOLVE_LIMIT} bytes (256 KiB)"
    finally:
        client.post(f"{wire}/homework/{job}/cancel")
    assert wait_finished(client, job, prefix=wire)["status"] in ("completed", "cancelled")


def test_under_a_prefix_solves_and_homework_jobs_are_held_to_their_bounds(prefixed: Prefixed):
    client, wire = prefixed.client, prefixed.wire
    with ThreadPoolExecutor(1) as pool:
        # one solve slot, no queue: a second solve while the first waits for the slow model is refused
        first = pool.submit(client.post, f"{wire}/solve", json={"problem": COT, "mode": "cot"})
        time.sleep(LATENCY_S / 3)
        second = client.post(f"{wire}/solve", json={"problem": COT, "mode": "cot"})
        assert second.status_code == 429, second.text
        assert second.json()["error"]["code"] == "overloaded" and second.headers["Retry-After"]
        assert first.result().status_code == 200, first.result().text

    job = client.post(f"{wire}/homework", json=slow_job())
    assert job.status_code == 202, job.text
    assert_too_many_jobs(client.post(f"{wire}/homework", json=slow_job()), unfinished=1, limit=1)
    client.post(f"{wire}/homework/{job.json()['id']}/cancel")
    assert wait_finished(client, job.json()["id"], prefix=wire)["status"] == "cancelled"


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
