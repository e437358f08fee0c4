"""GET /metrics (route templates, solve, model, sandbox, queue, homework, checker metrics) and JSON logs."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Proc, StartReplay, StartService
from tests.hardening.conftest import json_log_lines, metric

PROBLEM = "What is the sum of the squares of the first 10 positive integers?"  # error, fix, answer


@pytest.fixture(scope="module")
def observed(start_service: StartService, start_replay: StartReplay, tmp_path_factory) -> Proc:
    store = tmp_path_factory.mktemp("obs") / "jobs.sqlite3"
    return start_service(start_replay().url, grading_store_path=store, checker_timeout_s=0.5)


def test_a_solve_shows_up_in_every_solve_metric(observed: Proc):
    url = observed.url
    names = {
        "answered": ("tirsolve_solves_total", {"outcome": "answered"}),
        "finish": ("tirsolve_samples_total", {"finish": "answered"}),
        "rounds": ("tirsolve_solve_rounds_sum", {}),
        "sandbox_ok": ("tirsolve_sandbox_executions_total", {"status": "ok"}),
        "sandbox_error": ("tirsolve_sandbox_executions_total", {"status": "error"}),
        "sandbox_seconds": ("tirsolve_sandbox_execution_seconds_count", {}),
        "model_ok": ("tirsolve_model_calls_total", {"outcome": "ok"}),
        "model_seconds": ("tirsolve_model_call_duration_seconds_count", {}),
        "tokens": ("tirsolve_model_tokens_total", {"kind": "completion"}),
        "http": ("tirsolve_http_requests_total", {"method": "POST", "route": "/solve", "status": "200"}),
        "http_seconds": (
            "tirsolve_http_request_duration_seconds_count",
            {"method": "POST", "route": "/solve", "status": "200"},
        ),
    }
    before = {k: metric(url, n, **labels) for k, (n, labels) in names.items()}
    r = httpx.post(f"{url}/solve", json={"problem": PROBLEM}, timeout=60)
    assert r.status_code == 200 and r.json()["answer"] == "385"
    sample = r.json()["samples"][0]
    delta = {k: metric(url, n, **labels) - before[k] for k, (n, labels) in names.items()}
    assert (
        delta["answered"] == 1 and delta["finish"] == 1 and delta["http"] == 1 and delta["http_seconds"] == 1
    )
    assert delta["rounds"] == sample["rounds"] == 2
    assert delta["sandbox_ok"] == 1 and delta["sandbox_error"] == 1 and delta["sandbox_seconds"] == 2
    assert delta["model_ok"] == delta["model_seconds"] == sample["usage"]["calls"] == 3
    assert delta["tokens"] == sample["usage"]["completion_tokens"]


def test_routes_are_labelled_by_template_never_by_raw_path(observed: Proc):
    ids = [uuid.uuid4().hex for _ in range(3)]
    for job_id in ids:
        assert httpx.get(f"{observed.url}/homework/{job_id}").status_code == 404
        assert httpx.get(f"{observed.url}/no/such/{job_id}").status_code == 404
    text = httpx.get(f"{observed.url}/metrics").text
    assert not any(job_id in text for job_id in ids)
    assert metric(observed.url, "tirsolve_http_requests_total", route="/homework/{job_id}", status="404") >= 3
    assert metric(observed.url, "tirsolve_http_requests_total", route="unmatched", status="404") >= 3
    # junk methods fold into one label value
    httpx.request("BREW", f"{observed.url}/solve")
    assert metric(observed.url, "tirsolve_http_requests_total", method="other", route="/solve") == 1


def test_homework_jobs_by_state_and_checker_timeouts(observed: Proc):
    homework = {
        "problems": [{"id": "p", "reference": "x^2+2x+1"}, {"id": "q", "reference": "3"}],
        "submissions": [
            {"student": "a", "problem_id": "p", "answer": "(x+1)^2"},
            {"student": "a", "problem_id": "q", "answer": "5^(5^(5^(5^5)))"},  # runs away in the checker
        ],
    }
    timeouts_before = metric(observed.url, "tirsolve_checks_total", reason="timeout")
    job = httpx.post(f"{observed.url}/homework", json=homework, timeout=30).json()
    deadline = time.monotonic() + 60
    while httpx.get(f"{observed.url}/homework/{job['id']}").json()["status"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert metric(observed.url, "tirsolve_homework_jobs", state="completed") == 1
    assert metric(observed.url, "tirsolve_homework_jobs", state="running") == 0
    assert metric(observed.url, "tirsolve_checks_total", reason="timeout") == timeouts_before + 1


def test_metrics_are_valid_prometheus_text(observed: Proc):
    r = httpx.get(f"{observed.url}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    families = {f.name for f in text_string_to_metric_families(r.text)}
    for name in (
        "tirsolve_http_requests",
        "tirsolve_http_request_duration_seconds",
        "tirsolve_solves_active",
        "tirsolve_solves_queued",
        "tirsolve_homework_jobs",
        "tirsolve_checks",
    ):
        assert name in families, name


def test_request_id_is_echoed_when_sane_and_replaced_when_not(observed: Proc):
    sane = "trace-42.abc:def"
    assert (
        httpx.get(f"{observed.url}/healthz", headers={"X-Request-ID": sane}).headers["X-Request-ID"] == sane
    )
    for insane in ("x" * 500, "has space", "inject\tme", ""):
        got = httpx.get(f"{observed.url}/healthz", headers={"X-Request-ID": insane}).headers["X-Request-ID"]
        assert got != insane and len(got) == 32 and int(got, 16) >= 0
    generated = httpx.get(f"{observed.url}/healthz").headers["X-Request-ID"]
    assert len(generated) == 32
    # errors refused by middleware carry it too
    r = httpx.post(f"{observed.url}/solve", content=b"x" * 300_000, headers={"X-Request-ID": "big-body-1"})
    assert r.status_code == 413 and r.headers["X-Request-ID"] == "big-body-1"


def test_logs_are_json_lines_tagged_with_the_request_id(observed: Proc):
    rid = f"log-check-{uuid.uuid4().hex[:8]}"
    r = httpx.post(
        f"{observed.url}/solve", json={"problem": PROBLEM}, headers={"X-Request-ID": rid}, timeout=60
    )
    assert r.status_code == 200
    time.sleep(0.2)
    lines = json_log_lines(observed)
    access = [e for e in lines if e.get("logger") == "tirsolve.access" and e.get("request_id") == rid]
    assert len(access) == 1
    entry = access[0]
    assert entry["method"] == "POST" and entry["route"] == "/solve" and entry["status"] == 200
    assert entry["duration_ms"] > 0 and entry["level"] == "info" and entry["ts"].endswith("Z")
    # every line the service wrote is JSON (uvicorn's own included)
    text_lines = [ln for ln in observed.log.read_text().splitlines() if ln.strip()]
    assert text_lines and all(ln.startswith("{") for ln in text_lines), text_lines[:5]
