"""Replay ToRA-Code-34B's 1,319 GSM8K trajectories through the real service and measure it.

Starts `tirsolve replay-llm` over ../shared/data/traces/tora-code-34b_gsm8k.jsonl and `tirsolve serve` (with
its own sandbox) on free loopback ports, sends every problem to POST /solve (`--concurrency` at a time), and
prints: accuracy against ../shared/data/problems/gsm8k_test.jsonl (the authors report 80.7%), the items where
our extracted answer differs from the authors' `pred`, p50/p95 solve latency, throughput, and the service's
own overhead per solve (total minus model time minus sandbox time, as the service reports them).

    .venv/bin/python benchmarks/replay_gsm8k.py [--limit N] [--concurrency 32] [--out results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import processes  # noqa: E402
from app.processes import free_port  # noqa: E402
from app.tir.voting import normalized_equivalent  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
TRACES = DATA / "traces" / "tora-code-34b_gsm8k.jsonl"
PROBLEMS = DATA / "problems" / "gsm8k_test.jsonl"
REPORTED_ACCURACY = 80.7


def start(args: list[str], ready: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python -m app.cli ARGS` as a ready process; exits the benchmark with its log if it fails."""
    try:
        return processes.start([sys.executable, "-m", "app.cli", *args], ready, env=env, log=log, cwd=ROOT)
    except processes.NotReady as exc:
        sys.exit(str(exc))


def gsm8k_answer(solution: str) -> str:
    return solution.split("####")[-1].strip().replace(",", "")


def equal(answer: str | None, reference: str) -> bool:
    """GSM8K answers are numbers: the service's normalised numeric comparison ($, units, commas removed)."""
    return answer is not None and asyncio.run(normalized_equivalent(answer, reference))


def tora_equal(answer: str | None, reference: str) -> bool:
    """ToRA's grading rule for GSM8K (math_equal, include_percentage): also accept ref/100 and ref*100,
    with relative tolerance 1e-4. Reproduces the authors' 80.7% from their own `pred`s."""
    if equal(answer, reference):
        return True
    try:
        value, ref = float(str(answer).replace(",", "")), float(reference)
    except ValueError:
        return False
    return any(math.isclose(value, r, rel_tol=1e-4) for r in (ref / 100, ref, ref * 100))


def pct(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]
    )


async def run_all(service: str, items: list[dict], concurrency: int) -> tuple[list[dict], float]:
    sem = asyncio.Semaphore(concurrency)
    results: list[dict] = [{} for _ in items]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=service, timeout=300, limits=limits) as client:

        async def one(i: int, item: dict) -> None:
            async with sem:
                t0 = time.perf_counter()
                r = await client.post("/solve", json={"problem": item["question"]})
                latency = (time.perf_counter() - t0) * 1000
            body = r.json()
            results[i] = {"status": r.status_code, "latency_ms": latency, "body": body}

        started = time.perf_counter()
        await asyncio.gather(*(one(i, it) for i, it in enumerate(items)))
        wall = time.perf_counter() - started
    return results, wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, help="only the first N problems")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--replay-latency-ms", type=float, default=0.0, help="artificial model latency per call")
    ap.add_argument("--out", type=Path, help="write per-problem results as JSON here")
    args = ap.parse_args()

    traces = [json.loads(line) for line in TRACES.open(encoding="utf-8")]
    gold = {
        json.loads(line)["question"]: gsm8k_answer(json.loads(line)["answer"]) for line in PROBLEMS.open()
    }
    items = traces[: args.limit] if args.limit else traces

    logs = Path(tempfile.mkdtemp(prefix="bench-gsm8k-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIRSOLVE_")}
    rport, sport = free_port(), free_port()
    env |= {
        "TIRSOLVE_MODEL_BASE_URL": f"http://127.0.0.1:{rport}/v1",
        "TIRSOLVE_MODEL_NAME": "replay",
        "TIRSOLVE_REQUEST_DEADLINE_S": "300",
    }
    replay_args = ["replay-llm", "--traces", str(TRACES), "--port", str(rport)]
    replay_args += ["--latency-ms", str(args.replay_latency_ms)]
    procs = [start(replay_args, f"http://127.0.0.1:{rport}/v1/models", env, logs / "replay.log")]
    service = f"http://127.0.0.1:{sport}"
    try:
        procs.append(
            start(
                ["serve", "--port", str(sport), "--log-level", "warning"],
                f"{service}/readyz",
                env,
                logs / "service.log",
            )
        )
        results, wall = asyncio.run(run_all(service, items, args.concurrency))
    finally:
        for p in reversed(procs):
            processes.stop(p, timeout=15)

    errors = [(it["idx"], r) for it, r in zip(items, results, strict=True) if r["status"] != 200]
    ok = [
        (it, r["body"], r["latency_ms"]) for it, r in zip(items, results, strict=True) if r["status"] == 200
    ]
    correct = sum(equal(b["answer"], gold[it["question"]]) for it, b, _ in ok)
    theirs = sum(equal(str(it["pred"][0]), gold[it["question"]]) for it in items)
    correct_tora = sum(tora_equal(b["answer"], gold[it["question"]]) for it, b, _ in ok)
    theirs_tora = sum(tora_equal(str(it["pred"][0]), gold[it["question"]]) for it in items)
    differs = []
    for it, b, _ in ok:
        pred = str(it["pred"][0]) if it["pred"] else ""
        ours = b["answer"]
        if (ours is None and pred in ("", "None")) or (ours is not None and equal(ours, pred)):
            continue
        differs.append((it["idx"], ours, pred, b["samples"][0]["finish"]))
    latencies = [lat for _, _, lat in ok]
    totals = [b["timing_ms"]["total"] for _, b, _ in ok]
    overhead = [b["timing_ms"]["total"] - b["timing_ms"]["llm"] - b["timing_ms"]["sandbox"] for _, b, _ in ok]
    llm = [b["timing_ms"]["llm"] for _, b, _ in ok]
    sandbox = [b["timing_ms"]["sandbox"] for _, b, _ in ok]
    finishes: dict[str, int] = {}
    for _, b, _ in ok:
        finishes[b["samples"][0]["finish"]] = finishes.get(b["samples"][0]["finish"], 0) + 1

    n = len(items)
    print(f"problems: {n}  HTTP 200: {len(ok)}  errors: {len(errors)}  finishes: {finishes}")
    print(
        f"accuracy, numeric equality:   ours {100 * correct / n:.2f}% ({correct}/{n})   "
        f"authors' pred {100 * theirs / n:.2f}% ({theirs}/{n})"
    )
    print(
        f"accuracy, ToRA's grading rule: ours {100 * correct_tora / n:.2f}% ({correct_tora}/{n})   "
        f"authors' pred {100 * theirs_tora / n:.2f}% ({theirs_tora}/{n})   (reported {REPORTED_ACCURACY}%)"
    )
    print(f"answers differing from pred: {len(differs)}")
    for idx, ours, pred, finish in differs:
        why = (
            "no \\boxed{} in the trajectory; ToRA falls back to the last number, we report no answer"
            if ours is None
            else "different extraction"
        )
        print(f"  idx {idx}: ours={ours!r} pred={pred[:60]!r} finish={finish}: {why}")
    print(f"latency (client) p50 {pct(latencies, 50):.1f} ms  p95 {pct(latencies, 95):.1f} ms")
    print(f"service total    p50 {pct(totals, 50):.1f} ms  p95 {pct(totals, 95):.1f} ms")
    print(
        f"  model time mean {statistics.mean(llm):.1f} ms; "
        f"sandbox time mean {statistics.mean(sandbox):.1f} ms"
    )
    print(
        f"  overhead (total - llm - sandbox) mean {statistics.mean(overhead):.1f} ms  "
        f"p50 {pct(overhead, 50):.1f} ms  p95 {pct(overhead, 95):.1f} ms"
    )
    print(f"throughput at concurrency {args.concurrency}: {n / wall:.1f} solves/s  (wall {wall:.1f} s)")
    for idx, r in errors[:10]:
        print(f"  error idx {idx}: HTTP {r['status']}: {json.dumps(r['body'])[:200]}")
    if args.out:
        args.out.write_text(
            json.dumps([{"idx": it["idx"], **r} for it, r in zip(items, results, strict=True)])
        )
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
