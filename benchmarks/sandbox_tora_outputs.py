"""Run the 1,319 real ToRA programs through the sandbox and compare with the outputs the model saw.

Each record of ``../shared/data/traces/tora-code-34b_gsm8k.jsonl`` holds one trajectory: a ```python
block and the ```output block the authors' executor produced. We run the block as a one-shot, take
stdout (or, on an error, the traceback's last line, which is what the ToRA executor reported), and
compare after normalising whitespace. Prints the match rate and every mismatch with its cause.

    .venv/bin/python benchmarks/sandbox_tora_outputs.py [--limit N] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox import RunResult, Sandbox  # noqa: E402

TRACES = ROOT.parent / "shared" / "data" / "traces" / "tora-code-34b_gsm8k.jsonl"
BLOCK = re.compile(r"```python\n(.*?)```\n```output\n(.*?)```", re.S)
CODE_ONLY = re.compile(r"```python\n(.*?)```", re.S)


def normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def observed(result: RunResult) -> str:
    """What the ToRA executor would have shown: stdout, or the exception line on an error."""
    if result.status == "ok":
        return result.stdout
    lines = [line for line in result.error.strip().splitlines() if line.strip()]
    return lines[-1] if lines else result.status


def load(limit: int | None) -> list[tuple[int, str, str | None]]:
    programs = []
    with TRACES.open() as f:
        for line in f:
            record = json.loads(line)
            text = record["code"][0]
            match = BLOCK.search(text)
            if match:
                programs.append((record["idx"], match.group(1), match.group(2)))
            elif code := CODE_ONLY.search(text):
                programs.append((record["idx"], code.group(1), None))  # the trajectory ended without output
    return programs[:limit] if limit else programs


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()
    programs = load(args.limit)

    start = time.perf_counter()
    async with Sandbox(max_inflight=args.concurrency, max_queue=len(programs)) as sb:
        results = await asyncio.gather(*(sb.run(code, timeout=args.timeout) for _, code, _ in programs))
    elapsed = time.perf_counter() - start

    compared = matched = 0
    mismatches, unrecorded, statuses = [], [], {}
    for (idx, _code, expected), result in zip(programs, results, strict=True):
        statuses[result.status] = statuses.get(result.status, 0) + 1
        if expected is None:
            unrecorded.append((idx, result))
            continue
        compared += 1
        if normalise(observed(result)) == normalise(expected):
            matched += 1
        else:
            mismatches.append((idx, expected, result))

    print(f"programs run      : {len(programs)} in {elapsed:.1f} s ({len(programs) / elapsed:.1f}/s)")
    print(f"statuses          : {statuses}")
    print(f"with recorded output: {compared}; matched {matched} = {100 * matched / max(compared, 1):.2f}%")
    for idx, result in unrecorded:
        print(f"  idx {idx}: no recorded output (trajectory stopped); sandbox: {observed(result)!r}")
    for idx, expected, result in mismatches:
        print(f"  MISMATCH idx {idx} [{result.status}]")
        print(f"    recorded: {normalise(expected)[:200]!r}")
        print(f"    sandbox : {normalise(observed(result))[:200]!r}")


if __name__ == "__main__":
    asyncio.run(main())
