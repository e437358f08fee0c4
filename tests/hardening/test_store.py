"""The homework job store on a full, unusable or unopenable disk: requests get 503 naming the store, a
running job waits and finishes once there is room (every verdict once), a bad path stops the start."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.processes import NotReady
from tests.conftest import Proc, StartService


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (needs the right to mount, as root has), unmounted after the test."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)):
        pytest.skip("cannot mount a tmpfs here")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def _homework(n: int, tag: str) -> dict:
    answer = "(x+1)^2 " + "y" * 150  # 150 bytes a row: the disk fills after a few thousand verdicts
    rows = [{"student": f"{tag}{i:05d}", "problem_id": "p", "answer": answer} for i in range(n)]
    return {"problems": [{"id": "p", "reference": "x^2+2x+1"}], "submissions": rows}


def _progress(service: Proc, job_id: str) -> dict:
    return httpx.get(f"{service.url}/homework/{job_id}", timeout=10).json()


def test_a_full_disk_refuses_new_sets_and_pauses_a_job_until_there_is_room(
    start_service: StartService, replay: Proc, small_disk: Path
):
    store = small_disk / "jobs.sqlite3"
    service = start_service(replay.url, grading_store_path=store)
    too_big = httpx.post(f"{service.url}/homework", json=_homework(20_000, "a"), timeout=60)
    assert too_big.status_code == 503, too_big.text
    assert too_big.json()["error"]["code"] == "store_unavailable"
    assert str(store) in too_big.json()["error"]["message"] and "full" in too_big.json()["error"]["message"]
    assert too_big.headers["retry-after"]

    job_id = httpx.post(f"{service.url}/homework", json=_homework(1500, "b"), timeout=60).json()["id"]
    time.sleep(3)
    stuck = _progress(service, job_id)
    assert stuck["status"] in ("queued", "running") and stuck["progress"]["submissions_checked"] < 1500, stuck
    assert _mount("-o", "remount,size=32m", str(small_disk))
    deadline = time.monotonic() + 90
    unfinished = ("queued", "running")
    while (info := _progress(service, job_id))["status"] in unfinished and time.monotonic() < deadline:
        time.sleep(0.5)
    assert info["status"] == "completed", info
    with sqlite3.connect(store) as db:
        total, distinct = db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT student) FROM verdicts WHERE job_id = ?", (job_id,)
        ).fetchone()
    assert total == distinct == 1500
    assert "Traceback" not in service.log_text()
    service.stop()


@pytest.mark.parametrize("bad", ["under_a_file", "not_a_database"])
def test_a_store_path_that_cannot_be_opened_stops_the_start_naming_the_setting(
    start_service: StartService, replay: Proc, tmp_path: Path, bad: str
):
    (tmp_path / "file").write_bytes(b"no directory, no database " * 100)
    store = tmp_path / "file" / "jobs.sqlite3" if bad == "under_a_file" else tmp_path / "file"
    with pytest.raises(NotReady) as refused:
        start_service(replay.url, grading_store_path=store)
    assert "TIRSOLVE_GRADING_STORE_PATH" in str(refused.value) and str(store) in str(refused.value)
