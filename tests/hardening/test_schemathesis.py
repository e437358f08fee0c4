"""Schemathesis against the running service's OpenAPI spec: whatever it sends, never a 5xx, and every
answer as the spec documents it.

The service runs with the replay backend (a catch-all book, so generated problems get a real trajectory:
model calls, a sandbox run, voting) and its own sandbox server. Bounded: few examples per operation and a
time budget, so it fits CI on two cores.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_TRAJECTORIES, Proc, StartService, free_port, start_process

HERE = Path(__file__).resolve().parent
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture(scope="module")
def catchall() -> Iterator[Proc]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_process(
        "catchall-model",
        [str(HERE / "catchall_model.py"), str(port), str(TEST_TRAJECTORIES)],
        f"{base}/v1/models",
        f"{base}/v1",
        {},
    )
    yield proc
    proc.stop()


@pytest.mark.timeout(240)
def test_the_api_keeps_its_published_schema_under_schemathesis(
    start_service: StartService, catchall: Proc, tmp_path: Path
):
    service = start_service(
        catchall.url,
        grading_store_path=tmp_path / "jobs.sqlite3",
        max_samples=4,  # generated requests ask for up to 32 samples; keep each solve small on 2 cores
        max_active_solves=4,
        max_queued_solves=64,
        queue_timeout_s=60,
    )
    report = tmp_path / "junit.xml"
    run = subprocess.run(
        [
            str(SCHEMATHESIS), "run", f"{service.url}/openapi.json",
            # Every check (no 5xx, statuses and bodies as documented, refusals of schema-invalid data)
            # but acceptance of all schema-valid data: JSON Schema cannot say that a submission's
            # problem_id must name a problem of its set.
            "--checks", "all", "--exclude-checks", "positive_data_acceptance",
            "--max-examples", "25",
            "--max-time", "90",
            "--phases", "examples,coverage,fuzzing",
            "--request-timeout", "60",
            "--workers", "2",
            "--seed", "1",
            "--suppress-health-check", "all",
            "--report", "junit", "--report-junit-path", str(report),
            "--no-color",
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=220,  # its .schemathesis cache goes there
    )  # fmt: skip
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-6000:]
    cases = {c.get("name"): [e.tag for e in c] for c in ET.parse(report).iter("testcase")}
    assert {"POST /solve", "POST /homework", "GET /homework/{job_id}/report", "GET /metrics"} <= set(cases)
    assert not any(tags for tags in cases.values()), cases  # no failure, no error in any operation
    assert "Traceback" not in service.log.read_text(errors="replace")
