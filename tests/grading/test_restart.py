"""SIGKILL the service in the middle of a homework job, restart it: the job completes, each verdict once."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import httpx

SUBMISSIONS = 800


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def _checker_processes(pids: set[int]) -> set[int]:
    """The pool's forkserver and its workers (forks of it share its command line)."""
    alive = set()
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"multiprocessing.forkserver" in cmdline:
            alive.add(pid)
    return alive


def _homework() -> dict:
    # Symbolic answers (~20 ms per check) so the job runs for several seconds on two workers.
    answers = ["(x+1)^2", "(x-1)^2", "x^2+2x+1", "x^2+1"]
    return {
        "problems": [{"id": "sq", "reference": "x^2+2x+1"}],
        "submissions": [
            {"student": f"s{i:04d}", "problem_id": "sq", "answer": answers[i % 4]} for i in range(SUBMISSIONS)
        ],
    }


def _rows(store: Path) -> dict[str, tuple[int, str]]:
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT student, seq, data FROM verdicts").fetchall()
    return {student: (seq, data) for student, seq, data in rows}


def test_sigkill_mid_job_then_restart_completes_with_every_verdict_once(
    start_replay, start_service, tmp_path: Path
) -> None:
    replay = start_replay()
    store = tmp_path / "jobs.sqlite3"
    settings = {"grading_store_path": store, "checker_workers": 2}
    first = start_service(replay.url, **settings)
    job_id = httpx.post(f"{first.url}/homework", json=_homework(), timeout=30).json()["id"]

    checked = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        checked = httpx.get(f"{first.url}/homework/{job_id}", timeout=10).json()["progress"][
            "submissions_checked"
        ]
        if checked >= 100:
            break
        time.sleep(0.02)
    checker = _checker_processes(_descendants(first.popen.pid))
    assert len(checker) >= 3  # the forkserver and two workers
    first.popen.send_signal(signal.SIGKILL)
    first.popen.wait(timeout=10)
    # Orphaned checker processes notice their parent is gone and exit on their own.
    for _ in range(100):
        if not _checker_processes(checker):
            break
        time.sleep(0.1)
    assert _checker_processes(checker) == set()
    before = _rows(store)
    assert 100 <= len(before) < SUBMISSIONS, "the kill must land in the middle of the job"

    second = start_service(replay.url, **settings)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        info = httpx.get(f"{second.url}/homework/{job_id}", timeout=10).json()
        if info["status"] != "running" and info["status"] != "queued":
            break
        time.sleep(0.2)
    assert info["status"] == "completed", info
    assert info["progress"]["submissions_checked"] == SUBMISSIONS

    with sqlite3.connect(store) as db:
        total, distinct = db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT student || '/' || problem_id) FROM verdicts WHERE job_id = ?",
            (job_id,),
        ).fetchone()
    assert total == distinct == SUBMISSIONS
    after = _rows(store)
    # Nothing graded before the kill was redone: same rows, same insertion order.
    assert {s: after[s] for s in before} == before
    report = httpx.get(f"{second.url}/homework/{job_id}/report", timeout=30).json()
    items = {i["student"]: i for s in report["students"] for i in s["items"]}
    assert len(items) == SUBMISSIONS
    # Every verdict is right: answers 0 and 2 (mod 4) equal the reference, 1 and 3 do not.
    assert all(items[f"s{i:04d}"]["equivalent"] is (i % 2 == 0) for i in range(SUBMISSIONS))
    second.stop()
