"""`tirsolve solve` end to end, `tirsolve serve` options: real processes on the replay server and sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import ROOT, Proc, free_port, start_process

FIX = "What is the sum of the squares of the first 10 positive integers?"


def run_cli(args: list[str], model_url: str, sandbox_socket: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIRSOLVE_")}
    env |= {
        "TIRSOLVE_MODEL_BASE_URL": model_url,
        "TIRSOLVE_MODEL_NAME": "replay",
        "TIRSOLVE_SANDBOX_SOCKET": sandbox_socket,
    }
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_solve_prints_the_answer_and_the_trace(replay: Proc, sandbox_socket: str):
    out = run_cli(["solve", FIX, "--trace"], replay.url, sandbox_socket)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "385"
    assert "```output [error" in out.stdout and "SyntaxError" in out.stdout


def test_solve_json_and_unreachable_model(replay: Proc, sandbox_socket: str):
    out = run_cli(["solve", FIX, "--json"], replay.url, sandbox_socket)
    assert json.loads(out.stdout)["answer"] == "385"
    failed = run_cli(["solve", FIX], f"http://127.0.0.1:{free_port()}/v1", sandbox_socket)
    assert (
        failed.returncode == 2 and "model_unavailable" in failed.stderr and "Traceback" not in failed.stderr
    )


def test_usage_errors_exit_2(replay: Proc, sandbox_socket: str):
    out = run_cli([], replay.url, sandbox_socket)
    assert out.returncode == 2 and "serve" in out.stderr and "replay-llm" in out.stderr


def test_serve_refuses_a_root_path_that_is_no_absolute_path(replay: Proc, sandbox_socket: str):
    out = run_cli(["serve", "--root-path", "tirsolve"], replay.url, sandbox_socket)
    assert out.returncode == 2 and "root path" in out.stderr and "Traceback" not in out.stderr


def test_serve_takes_the_root_path_from_its_option(replay: Proc, sandbox_socket: str, tmp_path: Path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "TIRSOLVE_MODEL_BASE_URL": replay.url,
        "TIRSOLVE_SANDBOX_SOCKET": sandbox_socket,
        "TIRSOLVE_GRADING_STORE_PATH": str(tmp_path / "jobs.sqlite3"),
    }
    args = ["-m", "app.cli", "serve", "--port", str(port), "--root-path", "/tirsolve/", "--log-level=warning"]
    service = start_process("service", args, f"{base}/healthz", base, env)
    try:  # the docs page sends the browser to the schema through the proxy's prefix
        assert "'/tirsolve/openapi.json'" in httpx.get(f"{base}/docs", timeout=15).text
    finally:
        service.stop()
