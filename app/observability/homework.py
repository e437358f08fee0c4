"""Homework jobs by state, counted from the job store at scrape time (the store is the truth)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import get_args

from app.grading.models import JobStatus
from app.observability.metrics import HOMEWORK_JOBS

__all__ = ["refresh_homework_jobs"]

_STATES: tuple[str, ...] = get_args(JobStatus)


def refresh_homework_jobs(store_path: Path) -> None:
    """Set `tirsolve_homework_jobs{state}`; a read-only connection, so the grading writer never waits."""
    counts = dict.fromkeys(_STATES, 0)
    if store_path.exists():
        try:
            with sqlite3.connect(f"{store_path.resolve().as_uri()}?mode=ro", uri=True, timeout=1.0) as db:
                counts.update(db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())
        except sqlite3.Error:
            return  # keep the last values rather than fail the scrape
    for state, n in counts.items():
        HOMEWORK_JOBS.labels(state).set(n)
