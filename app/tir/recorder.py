"""Append finished trajectories to a JSONL file that `tirsolve replay-llm` can serve again."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from app.tir.trace import Sample

__all__ = ["RECORD_FORMAT", "TrajectoryRecorder", "trajectory_record"]

RECORD_FORMAT = "tirsolve.trajectory/1"


def trajectory_record(problem: str, system: str, mode: str, model: str, sample: Sample) -> dict[str, Any]:
    """The project's recorded format: `problem` + `trajectory` (the assistant turn, byte for byte)."""
    return {
        "format": RECORD_FORMAT,
        "problem": problem,
        "system": system,
        "mode": mode,
        "model": model,
        "seed": sample.seed,
        "trajectory": sample.text,
        "answer": sample.answer,
        "finish": sample.finish,
        "rounds": sample.rounds,
        "usage": sample.usage.to_dict(),
    }


class TrajectoryRecorder:
    """Serialises appends (one line per trajectory) so concurrent solves never interleave bytes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    async def record(self, records: list[dict[str, Any]]) -> None:
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        async with self._lock:
            await asyncio.to_thread(self._append, lines)

    def _append(self, lines: str) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(lines)
