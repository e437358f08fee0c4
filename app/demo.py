"""`make demo` / `python -m app.demo`: the whole service offline, no GPU, no model.

Starts `tirsolve replay-llm` over the shipped example trajectories and `tirsolve serve` against it, solves
the example problems through HTTP (real code execution in the sandbox), prints answers and traces, stops
both processes. Exits non-zero if anything fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from app.cli import print_trace
from app.processes import NotReady, free_port, start, stop

__all__ = ["main"]

EXAMPLES = Path(__file__).resolve().parent / "examples" / "trajectories.jsonl"
CLI = [sys.executable, "-m", "app.cli"]


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
    replay_port, service_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIRSOLVE_")}
    env |= {"TIRSOLVE_MODEL_BASE_URL": f"http://127.0.0.1:{replay_port}/v1", "TIRSOLVE_MODEL_NAME": "replay"}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        print(f"starting replay-llm over {EXAMPLES.name} and the service (logs in {logs}) ...")
        procs.append(
            start(
                [*CLI, "replay-llm", "--traces", str(EXAMPLES), "--port", str(replay_port)],
                f"http://127.0.0.1:{replay_port}/v1/models",
                env=env,
                log=logs / "replay.log",
            )
        )
        service = f"http://127.0.0.1:{service_port}"
        procs.append(
            start(
                [*CLI, "serve", "--port", str(service_port)],
                f"{service}/readyz",
                env=env,
                log=logs / "service.log",
            )
        )
        failures = _solve_all(service)
    except (NotReady, httpx.HTTPError) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        for proc in reversed(procs):
            stop(proc)
    print(f"\n{'all answers correct' if not failures else f'{failures} problem(s) failed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
