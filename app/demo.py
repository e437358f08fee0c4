"""`make demo` / `python -m app.demo`: the whole service offline, no GPU, no model.

Starts `tirsolve replay-llm` over the shipped example trajectories and `tirsolve serve` against it, solves
the example problems through HTTP (real code execution in the sandbox), prints answers and traces, stops
both processes. Exits non-zero if anything fails.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from app.cli import print_trace

__all__ = ["main"]

EXAMPLES = Path(__file__).resolve().parent / "examples" / "trajectories.jsonl"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], ready_url: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", *args], env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{args[0]} exited early:\n{log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(ready_url, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.terminate()
    raise RuntimeError(f"{args[0]} not ready in 60 s:\n{log.read_text(errors='replace')[-2000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _problems() -> list[dict]:
    with EXAMPLES.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _solve_all(service: str) -> int:
    failures = 0
    with httpx.Client(base_url=service, timeout=60) as client:
        for rec in _problems():
            print(f"\n=== {rec['problem']}")
            r = client.post("/solve", json={"problem": rec["problem"], "mode": rec.get("mode", "tir")})
            if r.status_code != 200:
                print(f"FAILED: HTTP {r.status_code}: {r.text}")
                failures += 1
                continue
            body = r.json()
            print_trace(body)
            ok = body["answer"] == rec["answer"]
            failures += not ok
            t = body["timing_ms"]
            print(
                f"answer: {body['answer']}  (expected {rec['answer']}: {'ok' if ok else 'MISMATCH'}; "
                f"total {t['total']:.0f} ms, sandbox {t['sandbox']:.0f} ms)"
            )
    return failures


def main() -> int:
    logs = Path(tempfile.mkdtemp(prefix="tirsolve-demo-"))
    replay_port, service_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIRSOLVE_")}
    env |= {"TIRSOLVE_MODEL_BASE_URL": f"http://127.0.0.1:{replay_port}/v1", "TIRSOLVE_MODEL_NAME": "replay"}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        print(f"starting replay-llm over {EXAMPLES.name} and the service (logs in {logs}) ...")
        procs.append(
            _start(
                ["replay-llm", "--traces", str(EXAMPLES), "--port", str(replay_port)],
                f"http://127.0.0.1:{replay_port}/v1/models",
                env,
                logs / "replay.log",
            )
        )
        service = f"http://127.0.0.1:{service_port}"
        procs.append(
            _start(["serve", "--port", str(service_port)], f"{service}/readyz", env, logs / "service.log")
        )
        failures = _solve_all(service)
    except (RuntimeError, httpx.HTTPError) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        for proc in reversed(procs):
            _stop(proc)
    print(f"\n{'all answers correct' if not failures else f'{failures} problem(s) failed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
