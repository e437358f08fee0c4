"""Fixtures for the grading tests: the labelled pairs and a real checker pool (worker processes)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from app.grading import CheckerPool

HERE = Path(__file__).resolve().parent
PAIRS_FILE = HERE / "pairs.jsonl"
MATH500 = HERE.parents[2] / "shared" / "data" / "problems" / "math500.jsonl"


def load_pairs() -> list[dict[str, Any]]:
    return [json.loads(line) for line in PAIRS_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pool() -> AsyncIterator[CheckerPool]:
    async with CheckerPool(workers=2, timeout=2.0) as p:
        yield p
