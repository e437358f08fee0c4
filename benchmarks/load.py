"""Load on the real service with the replay backend: throughput, latency, errors, peak RSS; then shedding.

Phase 1 ("normal"): `tirsolve replay-llm` over ToRA's GSM8K trajectories (../shared/data) with no added
latency, `tirsolve serve` with its own sandbox and default limits; `--clients` clients send POST /solve
back to back for `--duration` seconds. Phase 2 ("slow backend"): the same with `--latency-ms` added to every
model call and small solve limits; the service must answer 429 + Retry-After for the excess at once, and
keep serving the rest, instead of queueing without bound or timing out. Prints, per phase: requests,
throughput, p50/p99 latency by status, error counts, and the service's peak RSS (its own VmHWM, and the
sampled peak of its whole process tree: sandbox server and children, checker workers).

    .venv/bin/python benchmarks/load.py [--clients 16] [--duration 20] [--slow-clients 32] [--latency-ms 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from app import processes
from app.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
TRACES = ROOT.parent / "shared" / "data" / "traces" / "tora-code-34b_gsm8k.jsonl"


def start(args: list[str], ready: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python -m app.cli ARGS` as a ready process; exits the benchmark with its log if it fails."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIRSOLVE_")} | env
    try:
        return processes.start([sys.executable, "-m", "app.cli", *args], ready, env=env, log=log, cwd=ROOT)
    except processes.NotReady as exc:
        sys.exit(str(exc))


def _status_kb(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree(pid: int) -> list[int]:
    found, todo = [pid], [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                kids = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    tree_peak_kb: int = 0

    def add(self, key: str, seconds: float) -> None:
        self.latencies.setdefault(key, []).append(seconds)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _client(
    http: httpx.AsyncClient, problems: list[str], offset: int, stride: int, until: float, tally: Tally
) -> None:
    i = offset
    while time.monotonic() < until:
        problem = problems[i % len(problems)]
        i += stride
        started = time.monotonic()
        try:
            r = await http.post("/solve", json={"problem": problem})
            key = str(r.status_code)
            if r.status_code == 429:
                retry_after = float(r.headers.get("Retry-After", "1"))
                tally.add(key, time.monotonic() - started)
                await asyncio.sleep(min(retry_after, 0.5))  # a polite client backs off a little
                continue
            if r.status_code != 200:
                tally.errors[f"{r.status_code} {r.json().get('error', {}).get('code', '?')}"] += 1
        except httpx.HTTPError as exc:
            key = type(exc).__name__
            tally.errors[key] += 1
        tally.add(key, time.monotonic() - started)


async def _sample_rss(pid: int, until: float, tally: Tally) -> None:
    while time.monotonic() < until:
        tally.tree_peak_kb = max(tally.tree_peak_kb, sum(_status_kb(p, "VmRSS") for p in _tree(pid)))
        await asyncio.sleep(0.2)


async def _drive(url: str, pid: int, problems: list[str], clients: int, duration: float) -> Tally:
    tally = Tally()
    until = time.monotonic() + duration
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as http:
        await asyncio.gather(
            _sample_rss(pid, until, tally),
            *(_client(http, problems, k, clients, until, tally) for k in range(clients)),
        )
    return tally


def _report(name: str, tally: Tally, duration: float, service_pid: int) -> None:
    total = sum(len(v) for v in tally.latencies.values())
    ok = tally.latencies.get("200", [])
    print(f"\n== {name}")
    print(f"requests {total}  ok {len(ok)}  throughput {len(ok) / duration:.1f} solves/s")
    for key, values in sorted(tally.latencies.items()):
        print(
            f"  status {key:>5}: n={len(values):5d}  p50 {statistics.median(values) * 1000:8.1f} ms"
            f"  p99 {_pct(values, 0.99) * 1000:8.1f} ms  max {max(values) * 1000:8.1f} ms"
        )
    print(f"errors (non-200, non-429): {dict(tally.errors) or 'none'}")
    print(
        f"service peak RSS (VmHWM) {_status_kb(service_pid, 'VmHWM') / 1024:.1f} MiB;"
        f" whole tree sampled peak {tally.tree_peak_kb / 1024:.1f} MiB"
    )


def _phase(
    name: str, problems: list[str], clients: int, duration: float, latency_ms: float, service_env: dict
) -> None:
    logs = Path(tempfile.mkdtemp(prefix="tirsolve-load-"))
    rport, sport = free_port(), free_port()
    replay_args = ["replay-llm", "--port", str(rport), "--traces", str(TRACES)]
    if latency_ms:
        replay_args += ["--latency-ms", str(latency_ms)]
    replay = start(replay_args, f"http://127.0.0.1:{rport}/v1/models", {}, logs / "replay.log")
    env = {
        "TIRSOLVE_MODEL_BASE_URL": f"http://127.0.0.1:{rport}/v1",
        "TIRSOLVE_MODEL_NAME": "replay",
        "TIRSOLVE_GRADING_STORE_PATH": str(logs / "jobs.sqlite3"),
        **service_env,
    }
    service = start(
        ["serve", "--port", str(sport), "--log-level", "warning"], f"http://127.0.0.1:{sport}/healthz", env,
        logs / "service.log",
    )  # fmt: skip
    try:
        print(
            f"\n[{name}] {clients} clients for {duration:g} s; model latency {latency_ms:g} ms; {service_env}"
        )
        tally = asyncio.run(_drive(f"http://127.0.0.1:{sport}", service.pid, problems, clients, duration))
        _report(name, tally, duration, service.pid)
        metrics = httpx.get(f"http://127.0.0.1:{sport}/metrics", timeout=10).text
        shed = [ln for ln in metrics.splitlines() if ln.startswith("tirsolve_solves_rejected_total")]
        print("  " + ("\n  ".join(shed) if shed else "no solves rejected"))
    finally:
        processes.stop(service)
        processes.stop(replay)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--slow-clients", type=int, default=32)
    parser.add_argument("--slow-duration", type=float, default=20)
    parser.add_argument("--latency-ms", type=float, default=1000)
    args = parser.parse_args()
    problems = [json.loads(line)["question"] for line in TRACES.read_text().splitlines() if line.strip()]
    print(f"{len(problems)} GSM8K problems with recorded ToRA trajectories; {os.cpu_count()} CPUs")
    _phase("normal", problems, args.clients, args.duration, 0, {})
    _phase(
        "slow backend",
        problems,
        args.slow_clients,
        args.slow_duration,
        args.latency_ms,
        {
            "TIRSOLVE_MAX_ACTIVE_SOLVES": "4",
            "TIRSOLVE_MAX_QUEUED_SOLVES": "4",
            "TIRSOLVE_QUEUE_TIMEOUT_S": "5",
        },
    )


if __name__ == "__main__":
    main()
