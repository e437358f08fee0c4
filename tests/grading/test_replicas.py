"""Two service processes on one job store: each job is graded by one of them, and taken over if it dies."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.grading import HomeworkSet, SqliteJobStore
from tests.conftest import Proc

SUBMISSIONS = 240


def _homework(n: int = SUBMISSIONS) -> dict:
    # Symbolic answers (~20 ms per check) so the job runs for seconds on one checker worker.
    answers = ["(x+1)^2", "(x-1)^2", "x^2+2x+1", "x^2+1"]
    rows = [{"student": f"s{i:04d}", "problem_id": "sq", "answer": answers[i % 4]} for i in range(n)]
    return {"problems": [{"id": "sq", "reference": "x^2+2x+1"}], "submissions": rows}


def _checks(service: Proc) -> float:
    """Answer checks this process ran (its `tirsolve_checks_total`, every reason)."""
    text = httpx.get(f"{service.url}/metrics", timeout=10).text
    families = text_string_to_metric_families(text)
    return sum(s.value for f in families for s in f.samples if s.name == "tirsolve_checks_total")


def _info(service: Proc, job_id: str) -> dict:
    return httpx.get(f"{service.url}/homework/{job_id}", timeout=10).json()


def _wait_checked(service: Proc, job_id: str, at_least: int) -> None:
    deadline = time.monotonic() + 60
    while _info(service, job_id)["progress"]["submissions_checked"] < at_least:
        assert time.monotonic() < deadline, _info(service, job_id)
        time.sleep(0.05)


def _wait_finished(service: Proc, job_id: str, bound: float = 120) -> dict:
    deadline = time.monotonic() + bound
    while (info := _info(service, job_id))["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, info
        time.sleep(0.2)
    return info


def _verdict_rows(store: Path, job_id: str) -> tuple[int, int]:
    with sqlite3.connect(store) as db:
        return db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT student) FROM verdicts WHERE job_id = ?", (job_id,)
        ).fetchone()


@dataclass
class Replicas:
    first: Proc
    second: Proc
    store: Path
    running: str  # a job the first was grading when the second started


@pytest.fixture(scope="module")
def replicas(start_replay, start_service, tmp_path_factory) -> Iterator[Replicas]:
    """Two services on one store; the second starts (and resumes unfinished jobs) while the first grades."""
    store = tmp_path_factory.mktemp("replicas") / "jobs.sqlite3"
    replay = start_replay()
    settings = {"grading_store_path": store, "checker_workers": 1}
    first = start_service(replay.url, **settings)
    # long enough to be still running once the second has started (seconds on a loaded machine)
    job_id = httpx.post(f"{first.url}/homework", json=_homework(3000), timeout=30).json()["id"]
    _wait_checked(first, job_id, 20)
    second = start_service(replay.url, **settings)
    yield Replicas(first, second, store, job_id)
    first.stop()
    second.stop()


def _wait_idle(service: Proc, bound: float = 20) -> None:
    """Until the service's checker count stands still for a second (a lost lease is seen within 5 s)."""
    deadline = time.monotonic() + bound
    while True:
        before = _checks(service)
        time.sleep(1.0)
        if _checks(service) == before:
            return
        assert time.monotonic() < deadline, f"{service.url} goes on grading"


def test_a_replica_does_not_grade_a_job_another_is_running(replicas: Replicas) -> None:
    first, second, job_id = replicas.first, replicas.second, replicas.running
    checked = _info(first, job_id)["progress"]["submissions_checked"]
    assert checked < 3000, "the job ended before the second replica started"
    _wait_checked(first, job_id, checked + 100)  # time for the second to have joined in, had it resumed it
    assert httpx.post(f"{second.url}/homework/{job_id}/cancel", timeout=10).status_code == 200
    _wait_idle(first)
    assert _checks(second) == 0, "the second replica graded a job the first was running"
    done = _info(first, job_id)["progress"]["submissions_checked"]
    assert _checks(first) == done == _verdict_rows(replicas.store, job_id)[0]


def test_deleting_on_one_replica_a_job_the_other_runs_stops_it_quietly(replicas: Replicas) -> None:
    first, second = replicas.first, replicas.second
    job_id = httpx.post(f"{first.url}/homework", json=_homework(), timeout=30).json()["id"]
    _wait_checked(first, job_id, 20)
    assert httpx.delete(f"{second.url}/homework/{job_id}", timeout=10).status_code == 204
    _wait_idle(first)
    assert _info(first, job_id)["error"]["code"] == "job_not_found"
    assert _verdict_rows(replicas.store, job_id) == (0, 0)
    assert "Traceback" not in first.log_text(), first.log_text()


def test_a_replica_takes_over_the_job_of_one_that_died(replicas: Replicas) -> None:
    """Last: it kills the first replica."""
    first, second = replicas.first, replicas.second
    job_id = httpx.post(f"{first.url}/homework", json=_homework(), timeout=30).json()["id"]
    _wait_checked(first, job_id, 20)
    checked_before = _checks(second)
    first.popen.send_signal(signal.SIGKILL)
    first.popen.wait(timeout=10)
    assert _wait_finished(second, job_id)["status"] == "completed"
    assert _checks(second) > checked_before
    assert _verdict_rows(replicas.store, job_id) == (SUBMISSIONS, SUBMISSIONS)


def test_a_lease_is_taken_over_only_once_expired_or_its_owner_dead(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    homework = HomeworkSet.model_validate(
        {"problems": [{"id": "p", "reference": "1"}], "submissions": [{"student": "a", "problem_id": "p"}]}
    )
    job = store.create(homework).id
    assert store.claim(job, "host/1/1/a", lease_s=60)
    assert not store.claim(job, "host/2/2/b", lease_s=60)  # held and unexpired
    assert store.claim(job, "host/2/2/b", lease_s=60, dead_owners=("host/1/1/a",))  # its owner died
    assert not store.renew(job, "host/1/1/a", lease_s=60)  # the old owner learns it lost the job
    assert store.renew(job, "host/2/2/b", lease_s=-1)  # b stalls past its lease...
    assert store.claim(job, "host/3/3/c", lease_s=60)  # ...and c takes the job over
    store.release("host/3/3/c")
    assert store.claim(job, "host/4/4/d", lease_s=60)  # released: free at once
    assert store.transition(job, "cancelled", ("running",))
    assert not store.claim(job, "host/4/4/d", lease_s=60)  # an ended job is never claimed again
    assert not store.renew(job, "host/4/4/d", lease_s=60)
    store.close()
