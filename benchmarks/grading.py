"""Checker throughput and latency over the MATH-500 pairs.

Pairs: every record's `answer` against its full `solution` (500, equal) and against the next record's
`answer` (499, mostly unequal). They run through a `CheckerPool` with `--workers` processes (default 2, one
per core), `--workers` checks in flight so no check waits in a queue: the latency of a check is the time from
sending it to a worker to its verdict (IPC included). Prints checks/second, p50, p99 and max, and the same
latency for `check()` in-process as a baseline.

    .venv/bin/python benchmarks/grading.py [--workers 2] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import time
from pathlib import Path

from app.grading import CheckerPool, check

MATH500 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "problems" / "math500.jsonl"


def load_pairs() -> list[tuple[str, str]]:
    records = [json.loads(line) for line in MATH500.read_text(encoding="utf-8").splitlines() if line.strip()]
    own = [(r["answer"], r["solution"]) for r in records]
    neighbours = [(a["answer"], b["answer"]) for a, b in itertools.pairwise(records)]
    return own + neighbours


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def describe(name: str, latencies: list[float], elapsed: float) -> None:
    ms = [x * 1000 for x in latencies]
    print(
        f"{name:<28} {len(ms):>5} checks  {len(ms) / elapsed:8.1f} checks/s  "
        f"p50 {percentile(ms, 50):7.2f} ms  p99 {percentile(ms, 99):7.2f} ms  max {max(ms):8.2f} ms  "
        f"mean {statistics.fmean(ms):6.2f} ms"
    )


async def run_pool(
    pairs: list[tuple[str, str]], workers: int, bound_s: float
) -> tuple[list[float], float, dict[str, int]]:
    latencies: list[float] = []
    reasons: dict[str, int] = {}
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for pair in pairs:
        queue.put_nowait(pair)

    async with CheckerPool(workers=workers, timeout=bound_s) as pool:

        async def client() -> None:
            while not queue.empty():
                reference, answer = queue.get_nowait()
                started = time.perf_counter()
                verdict = await pool.check(reference, answer)
                latencies.append(time.perf_counter() - started)
                reasons[verdict.reason] = reasons.get(verdict.reason, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(workers)))
        elapsed = time.perf_counter() - started
    return latencies, elapsed, reasons


def run_inline(pairs: list[tuple[str, str]]) -> tuple[list[float], float]:
    latencies = []
    started = time.perf_counter()
    for reference, answer in pairs:
        t = time.perf_counter()
        check(reference, answer)
        latencies.append(time.perf_counter() - t)
    return latencies, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="repeat the pair list this many times")
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args()
    pairs = load_pairs() * args.rounds
    print(f"MATH-500 pairs: {len(pairs)} ({args.rounds} round(s)); workers: {args.workers}")
    latencies, elapsed, reasons = asyncio.run(run_pool(pairs, args.workers, args.timeout))
    describe(f"CheckerPool({args.workers} workers)", latencies, elapsed)
    print("  verdicts:", ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())))
    check("1", "1")  # warm the in-process parser before timing it
    inline, inline_elapsed = run_inline(pairs)
    describe("check() in-process, 1 core", inline, inline_elapsed)


if __name__ == "__main__":
    main()
