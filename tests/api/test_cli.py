"""`tirsolve solve` end to end: a real process against the replay server and the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT, Proc, free_port

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
