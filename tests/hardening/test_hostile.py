"""Hostile code from the model (network, fork bomb, memory bomb, secrets...) goes through POST /solve:
each response reports the sandbox status, no secret leaks, and the service keeps serving."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import TEST_TRAJECTORIES, Proc, StartReplay, StartService
from tests.hardening.conftest import HOSTILE, metric

CANARY = "sk-canary-model-key-7f3a9c"  # the service holds it (model server key); code must never see it
PROJECT_FILE_TEXT = 'name = "tirsolve"'  # a line of pyproject.toml
RECORDS = [json.loads(line) for line in HOSTILE.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def hostile_service(start_service: StartService, start_replay: StartReplay) -> Proc:
    replay = start_replay(HOSTILE, TEST_TRAJECTORIES)
    return start_service(replay.url, api_key=CANARY)


@pytest.mark.parametrize("record", RECORDS, ids=[r["hostile"] for r in RECORDS])
def test_hostile_block_is_contained_and_reported(hostile_service: Proc, record: dict):
    r = httpx.post(f"{hostile_service.url}/solve", json={"problem": record["problem"]}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    sample = body["samples"][0]
    outputs = [s for s in sample["steps"] if s["type"] == "output"]
    assert len(outputs) == 1 and sample["rounds"] == 1
    assert outputs[0]["status"] in record["expect_status"], outputs[0]
    assert body["answer"] == record["answer"]  # the trajectory went on after the contained block
    assert CANARY not in r.text
    assert PROJECT_FILE_TEXT not in r.text  # the checkout's files are not readable from the sandbox


def test_specific_containment_evidence(hostile_service: Proc):
    by_name = {r["hostile"]: r for r in RECORDS}

    def output_of(name: str) -> str:
        r = httpx.post(f"{hostile_service.url}/solve", json={"problem": by_name[name]["problem"]}, timeout=60)
        return next(s["content"] for s in r.json()["samples"][0]["steps"] if s["type"] == "output")

    assert "Operation not permitted" in output_of("network")
    assert "MemoryError" in output_of("memory_bomb")
    assert "TimeoutError" in output_of("cpu_loop")
    secrets = output_of("secrets")
    assert "TIRSOLVE" not in secrets and CANARY not in secrets


def test_the_service_keeps_serving_after_the_hostile_run(hostile_service: Proc):
    assert httpx.get(f"{hostile_service.url}/healthz").status_code == 200
    ready = httpx.get(f"{hostile_service.url}/readyz", timeout=15)
    assert ready.status_code == 200 and ready.json()["sandbox"]["ok"] is True
    r = httpx.post(
        f"{hostile_service.url}/solve",
        json={"problem": "What is the sum of the squares of the first 10 positive integers?"},
        timeout=60,
    )
    assert r.status_code == 200 and r.json()["answer"] == "385"
    for status in ("memory", "timeout", "output_limit", "error"):
        assert metric(hostile_service.url, "tirsolve_sandbox_executions_total", status=status) >= 1, status
