"""Generation speed and prefix-cache reuse against a real llama.cpp llama-server (SmolLM2-135M-Instruct, CPU).

For each problem: round 1 continues the rendered TIR prompt, then round 2 continues round 1's prompt plus its
text plus an output block, byte for byte, as the TIR loop does. Prints tokens per second (generation, as our
client sees it, streaming) and the share of round 2's prompt served from llama-server's cache.

    .venv/bin/python benchmarks/llama_server.py [--problems 8] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.tir.model_client import ModelClient, SamplingParams  # noqa: E402
from app.tir.prompt import TIR_SYSTEM_PROMPT, Conversation  # noqa: E402
from tests.deploy.llama import MODEL_ALIAS, installed, llama_server  # noqa: E402

MATH500 = ROOT.parent / "shared" / "data" / "problems" / "math500.jsonl"


async def measure(url: str, problems: list[str], max_tokens: int, mode: str) -> list[dict]:
    rows = []
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens, seed=0)
    async with ModelClient(url, MODEL_ALIAS, mode=mode) as client:
        for problem in problems:
            conv = Conversation(TIR_SYSTEM_PROMPT, problem)
            first = await client.complete(conv, params)
            second = await client.complete(conv.extended(first.text + "```output\n42\n```\n"), params)
            for n, done in ((1, first), (2, second)):
                rows.append(
                    {
                        "round": n,
                        "prompt_tokens": done.prompt_tokens,
                        "cached_tokens": done.cached_tokens,
                        "completion_tokens": done.completion_tokens,
                        "seconds": done.duration_ms / 1000,
                    }
                )
    return rows


def report(mode: str, rows: list[dict]) -> None:
    def tps(r: dict) -> float:
        return r["completion_tokens"] / r["seconds"]

    second = [r for r in rows if r["round"] == 2]
    shares = [r["cached_tokens"] / r["prompt_tokens"] for r in second if r["cached_tokens"] is not None]
    print(f"[{mode}] calls: {len(rows)}")
    print(
        f"[{mode}] tokens/s (new tokens / call time, incl. prompt processing): "
        f"median {statistics.median(map(tps, rows)):.1f}"
    )
    print(
        f"[{mode}] round 2 cached-prompt share: median {statistics.median(shares):.1%}, "
        f"min {min(shares):.1%} ({len(shares)} of {len(second)} calls reported it)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--problems", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--json", action="store_true", help="also print every call as JSON")
    args = parser.parse_args()
    found = installed()
    if found is None:
        print("llama-server is not installed: run `make llama-server`", file=sys.stderr)
        return 2
    with MATH500.open() as f:
        problems = [json.loads(line)["problem"] for line in f][: args.problems]
    with llama_server(*found) as server:
        for mode in ("completions", "chat"):
            rows = asyncio.run(measure(server.url, problems, args.max_tokens, mode))
            report(mode, rows)
            if args.json:
                print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
