"""Faults: the sandbox server killed mid-run, the model server dropping a stream, SIGTERM mid-request and
mid-homework-job. Each ends in a clean answer or a clean error, and the service recovers or exits cleanly."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import Proc, StartReplay, StartService, start_process
from tests.hardening.conftest import (
    FAULTS,
    LONG_PROBLEM,
    SLOW_PROBLEM,
    THREE_ROUNDS,
    alive,
    cmdline,
    descendants,
    processes_in_blocks,
    sandbox_server_pid,
    sigterm_and_wait,
    uid_blocks,
)


def _post(url: str, problem: str, **extra) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    r = httpx.post(f"{url}/solve", json={"problem": problem, **extra}, timeout=60)
    return r, time.monotonic() - started


def _assert_clean_error(r: httpx.Response, status: int, codes: set[str]) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] in codes, r.text
    assert "Traceback" not in r.text


# --- the sandbox server dies --------------------------------------------------------------------------


def test_sandbox_server_killed_mid_run_then_restarted(start_service: StartService, start_replay: StartReplay):
    service = start_service(start_replay(FAULTS).url, own_sandbox=True, sandbox_timeout_s=10)
    first_server = sandbox_server_pid(service)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(_post, service.url, SLOW_PROBLEM)
        time.sleep(1.0)  # the block sleeps 2.5 s in a sandbox child: kill its server under it
        children = descendants(first_server)
        os.kill(first_server, signal.SIGKILL)
        r, elapsed = pending.result()
    if r.status_code == 200:  # the loop saw the session die and went on without it
        outputs = [s for s in r.json()["samples"][0]["steps"] if s["type"] == "output"]
        assert outputs[0]["status"] == "killed" and "SessionDead" in outputs[0]["content"]
    else:
        _assert_clean_error(r, 503, {"sandbox_unavailable"})
    assert elapsed < 10
    # the dead server's confined children went with it (parent-death signal)
    time.sleep(0.5)
    assert [p for p in children if alive(p) and "sandbox" in cmdline(p)] == []
    # the next request restarts the sandbox server and runs code again
    r, _ = _post(service.url, THREE_ROUNDS)
    assert r.status_code == 200 and r.json()["answer"] == "12"
    assert all(s["status"] == "ok" for s in r.json()["samples"][0]["steps"] if s["type"] == "output")
    assert sandbox_server_pid(service) != first_server


# --- the model server drops the connection mid-stream -------------------------------------------------


@pytest.fixture
def dropping_replay(start_replay: StartReplay) -> Proc:
    """A replay server streaming slowly (0.2 s per chunk), so a test can kill it mid-stream."""
    return start_replay(FAULTS, extra=["--chunk-delay-ms", "200"])


def _restart_on_same_port(replay: Proc) -> Proc:
    port = replay.url.rsplit(":", 1)[1].split("/")[0]
    args = ["-m", "app.cli", "replay-llm", "--port", port, "--traces", str(FAULTS)]
    base = f"http://127.0.0.1:{port}"
    return start_process("replay-again", args, f"{base}/v1/models", f"{base}/v1", {})


def test_model_server_dropping_the_stream_gives_a_clean_error(
    start_service: StartService, dropping_replay: Proc
):
    service = start_service(dropping_replay.url, model_retries=1, model_retry_backoff_s=0.05)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(_post, service.url, LONG_PROBLEM)
        time.sleep(1.5)  # a few chunks are in
        dropping_replay.popen.kill()
        r, elapsed = pending.result()
    # text already arrived, so no retry: the cut is reported, not papered over
    _assert_clean_error(r, 503, {"model_bad_response", "model_unavailable"})
    assert elapsed < 10
    again = _restart_on_same_port(dropping_replay)
    try:
        r, _ = _post(service.url, THREE_ROUNDS)
        assert r.status_code == 200 and r.json()["answer"] == "12"  # the service recovered
    finally:
        again.stop()


def test_model_server_dropping_an_sse_solve_ends_with_an_error_event(
    start_service: StartService, dropping_replay: Proc
):
    service = start_service(dropping_replay.url, model_retries=1, model_retry_backoff_s=0.05)
    events: list[str] = []
    with httpx.stream(
        "POST", f"{service.url}/solve", json={"problem": LONG_PROBLEM, "stream": True}, timeout=30
    ) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("event: "):
                events.append(line[7:])
                if events.count("text") == 3:
                    dropping_replay.popen.kill()
    assert events[:3] == ["text"] * 3 and events[-1] == "error", events
    assert "final" not in events


# --- SIGTERM ------------------------------------------------------------------------------------------


def _assert_clean_exit(proc: Proc) -> None:
    # uvicorn re-raises the signal once its shutdown is complete, so -SIGTERM is a clean exit too
    assert proc.popen.returncode in (0, -signal.SIGTERM)
    assert "Traceback" not in proc.log_text()


def _assert_all_gone(before: set[int], blocks: set[int]) -> None:
    """No process of the service tree and none in its sandbox uid blocks survives."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = [p for p in before if alive(p)] + processes_in_blocks(blocks)
        if not left:
            return
        time.sleep(0.1)
    raise AssertionError(f"left behind: {[(p, cmdline(p)) for p in left]}")


def test_sigterm_lets_the_in_flight_solve_finish_then_everything_is_gone(
    start_service: StartService, slow_replay: Proc
):
    grace = 8.0
    service = start_service(slow_replay.url, own_sandbox=True, shutdown_grace_s=grace)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(_post, service.url, THREE_ROUNDS)  # ~3 s: three 1 s model calls
        time.sleep(1.2)
        tree = descendants(service.popen.pid)
        blocks = uid_blocks(tree)
        assert any("sandbox serve" in cmdline(p) for p in tree) and blocks
        took = sigterm_and_wait(service, bound=grace + 12)
        r, _ = pending.result()
    assert r.status_code == 200 and r.json()["answer"] == "12"  # in flight at SIGTERM, still answered
    _assert_clean_exit(service)
    assert took < grace + 12
    _assert_all_gone(tree, blocks)


def _homework(n: int) -> dict:
    answers = ["(x+1)^2", "(x-1)^2", "x^2+2x+1", "x^2+1"]
    return {
        "problems": [{"id": "sq", "reference": "x^2+2x+1"}],
        "submissions": [
            {"student": f"s{i:04d}", "problem_id": "sq", "answer": answers[i % 4]} for i in range(n)
        ],
    }


def _job_row(store: Path, job_id: str) -> tuple[str, int]:
    with sqlite3.connect(store) as db:
        status = db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]
        done = db.execute("SELECT COUNT(*) FROM verdicts WHERE job_id = ?", (job_id,)).fetchone()[0]
    return status, done


def test_sigterm_during_a_homework_job_checkpoints_it_for_the_next_process(
    start_service: StartService, start_replay: StartReplay, tmp_path: Path
):
    n = 600
    replay = start_replay(FAULTS)
    store = tmp_path / "jobs.sqlite3"
    settings = {"grading_store_path": store, "checker_workers": 2, "shutdown_grace_s": 3}
    first = start_service(replay.url, own_sandbox=True, **settings)
    job_id = httpx.post(f"{first.url}/homework", json=_homework(n), timeout=30).json()["id"]
    deadline = time.monotonic() + 120
    while httpx.get(f"{first.url}/homework/{job_id}").json()["progress"]["submissions_checked"] < 50:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    tree = descendants(first.popen.pid)
    blocks = uid_blocks(tree)
    took = sigterm_and_wait(first, bound=20)
    _assert_clean_exit(first)
    assert took < 20
    _assert_all_gone(tree, blocks)  # checker workers, sandbox server and its children
    status, done = _job_row(store, job_id)
    assert status == "running" and 50 <= done < n  # left resumable, with its verdicts so far

    second = start_service(replay.url, own_sandbox=True, **settings)
    deadline = time.monotonic() + 180
    while (info := httpx.get(f"{second.url}/homework/{job_id}").json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert info["status"] == "completed" and info["progress"]["submissions_checked"] == n
    with sqlite3.connect(store) as db:
        total, distinct = db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT student) FROM verdicts WHERE job_id = ?", (job_id,)
        ).fetchone()
    assert total == distinct == n


def test_service_started_sandbox_does_not_outlive_a_sigkilled_service(
    start_service: StartService, start_replay: StartReplay
):
    service = start_service(start_replay(FAULTS).url, own_sandbox=True)
    server = sandbox_server_pid(service)
    tree = descendants(service.popen.pid)
    blocks = uid_blocks(tree)
    service.popen.kill()
    service.popen.wait(timeout=10)
    deadline = time.monotonic() + 10  # the server polls its parent once a second
    while alive(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(server)
    _assert_all_gone(tree, blocks)


# --- an unexpected failure (a bug, a full disk) -------------------------------------------------------


def test_an_unexpected_failure_ends_an_sse_solve_and_frees_its_slot(
    start_service: StartService, start_replay: StartReplay, tmp_path: Path
):
    # the trajectory log is a directory: recording fails with IsADirectoryError, outside every typed error
    service = start_service(
        start_replay(FAULTS).url, trajectory_log=tmp_path, max_active_solves=1, max_queued_solves=0
    )
    with httpx.stream(
        "POST", f"{service.url}/solve", json={"problem": THREE_ROUNDS, "stream": True}, timeout=20
    ) as r:
        body = r.read().decode()
    assert body.rstrip().splitlines()[-1].startswith("data: ") and "event: error" in body
    assert "internal_error" in body and "IsADirectoryError" in body and "final" not in body
    # the slot was released: the next request is served (and fails the same clean way), not shed
    r, _ = _post(service.url, THREE_ROUNDS)
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    assert "Traceback" not in r.text
