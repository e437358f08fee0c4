"""Where homework jobs live: the `JobStore` interface and its SQLite implementation.

Verdicts are keyed by (job, student, problem) and written with INSERT OR IGNORE in one transaction per batch,
so a job resumed after a crash never grades an item twice and never loses one that was written. Progress is
counted from those rows, so it cannot disagree with them. A server database (several replicas sharing jobs)
replaces `SqliteJobStore` by implementing the same methods.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from app.grading.models import HomeworkSet, ItemVerdict, JobInfo, JobStatus, ProblemKey, Progress

__all__ = ["UNFINISHED", "JobStore", "SqliteJobStore", "StoreUnavailable"]

UNFINISHED: tuple[JobStatus, ...] = ("queued", "running")


class StoreUnavailable(Exception):
    """The store cannot be read or written now (disk full, read-only, locked by another process, I/O error,
    not a database). Nothing was half-written: a job meeting it waits and retries, a request gets 503."""


P = ParamSpec("P")
R = TypeVar("R")


def _guarded(
    method: Callable[Concatenate[SqliteJobStore, P], R],
) -> Callable[Concatenate[SqliteJobStore, P], R]:
    """Turn SQLite's environment errors into `StoreUnavailable` naming the file; bugs stay themselves."""

    @functools.wraps(method)
    def wrapper(self: SqliteJobStore, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise
        except sqlite3.DatabaseError as exc:
            raise StoreUnavailable(f"the homework job store {self.path} cannot be used: {exc}") from exc

    return wrapper


class JobStore(ABC):
    """Persistence for homework jobs. Every method is short and synchronous; writes are idempotent."""

    @abstractmethod
    def create(self, homework: HomeworkSet) -> JobInfo: ...

    @abstractmethod
    def info(self, job_id: str) -> JobInfo | None: ...

    @abstractmethod
    def list(self, limit: int = 50, offset: int = 0) -> list[JobInfo]: ...

    @abstractmethod
    def homework(self, job_id: str) -> HomeworkSet: ...

    @abstractmethod
    def status(self, job_id: str) -> JobStatus | None: ...

    @abstractmethod
    def transition(
        self, job_id: str, status: JobStatus, allowed_from: tuple[JobStatus, ...], error: str | None = None
    ) -> bool:
        """Set `status` only if the job is in one of `allowed_from` (atomically); True if it changed."""

    @abstractmethod
    def delete(self, job_id: str) -> bool:
        """Remove a job with its keys and verdicts; False if there was none."""

    @abstractmethod
    def unfinished(self) -> list[str]: ...

    @abstractmethod
    def count_unfinished(self) -> int:
        """How many jobs are queued or running."""

    @abstractmethod
    def save_key(self, job_id: str, key: ProblemKey) -> ProblemKey:
        """Store `key` unless the problem has one; returns the stored key, which grading must use (another
        process grading the same job may have stored a different answer first)."""

    @abstractmethod
    def keys(self, job_id: str) -> dict[str, ProblemKey]: ...

    @abstractmethod
    def save_verdicts(self, job_id: str, verdicts: Iterable[ItemVerdict]) -> int:
        """Store verdicts not stored yet (by student and problem); returns how many were new."""

    @abstractmethod
    def verdicts(self, job_id: str) -> list[ItemVerdict]: ...

    @abstractmethod
    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    title TEXT,
    spec TEXT NOT NULL,
    problems_total INTEGER NOT NULL,
    submissions_total INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);
CREATE TABLE IF NOT EXISTS keys (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    problem_id TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (job_id, problem_id)
);
CREATE TABLE IF NOT EXISTS verdicts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    student TEXT NOT NULL,
    problem_id TEXT NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (job_id, student, problem_id)
);
"""


class SqliteJobStore(JobStore):
    """Jobs in one SQLite file (WAL mode, so readers never block the grading writer)."""

    @_guarded
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailable(
                    f"cannot create the directory of the job store {self.path}: {exc}"
                ) from exc
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)

    @_guarded
    def create(self, homework: HomeworkSet) -> JobInfo:
        job_id = uuid.uuid4().hex
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs (id, status, title, spec, problems_total, submissions_total, created_at,"
                " updated_at) VALUES (?, 'queued', ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    homework.title,
                    homework.model_dump_json(),
                    len(homework.problems),
                    len(homework.submissions),
                    now,
                    now,
                ),
            )
        info = self.info(job_id)
        assert info is not None
        return info

    @_guarded
    def info(self, job_id: str) -> JobInfo | None:
        with self._lock:
            row = self._db.execute(_INFO_SQL + " WHERE j.id = ?", (job_id,)).fetchone()
        return _info(row) if row else None

    @_guarded
    def list(self, limit: int = 50, offset: int = 0) -> list[JobInfo]:
        with self._lock:
            rows = self._db.execute(
                _INFO_SQL + " ORDER BY j.created_at DESC LIMIT ? OFFSET ?", (limit, offset)
            ).fetchall()
        return [_info(r) for r in rows]

    @_guarded
    def homework(self, job_id: str) -> HomeworkSet:
        with self._lock:
            row = self._db.execute("SELECT spec FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(job_id)
        return HomeworkSet.model_validate_json(row["spec"])

    @_guarded
    def status(self, job_id: str) -> JobStatus | None:
        with self._lock:
            row = self._db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row["status"] if row else None

    @_guarded
    def transition(
        self, job_id: str, status: JobStatus, allowed_from: tuple[JobStatus, ...], error: str | None = None
    ) -> bool:
        marks = ",".join("?" * len(allowed_from))
        with self._lock:
            cursor = self._db.execute(
                f"UPDATE jobs SET status = ?, error = ?, updated_at = ? WHERE id = ? AND status IN ({marks})",
                (status, error, time.time(), job_id, *allowed_from),
            )
        return cursor.rowcount == 1

    @_guarded
    def delete(self, job_id: str) -> bool:
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM verdicts WHERE job_id = ?", (job_id,))
            self._db.execute("DELETE FROM keys WHERE job_id = ?", (job_id,))
            cursor = self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        return cursor.rowcount == 1

    @_guarded
    def unfinished(self) -> list[str]:
        marks = ",".join("?" * len(UNFINISHED))
        with self._lock:
            rows = self._db.execute(
                f"SELECT id FROM jobs WHERE status IN ({marks}) ORDER BY created_at", UNFINISHED
            ).fetchall()
        return [r["id"] for r in rows]

    @_guarded
    def count_unfinished(self) -> int:
        marks = ",".join("?" * len(UNFINISHED))
        with self._lock:
            row = self._db.execute(f"SELECT COUNT(*) FROM jobs WHERE status IN ({marks})", UNFINISHED)
            return row.fetchone()[0]

    @_guarded
    def save_key(self, job_id: str, key: ProblemKey) -> ProblemKey:
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR IGNORE INTO keys (job_id, problem_id, data) VALUES (?, ?, ?)",
                (job_id, key.problem_id, key.model_dump_json()),
            )
            self._touch(job_id)
            row = self._db.execute(
                "SELECT data FROM keys WHERE job_id = ? AND problem_id = ?", (job_id, key.problem_id)
            ).fetchone()
        return ProblemKey.model_validate_json(row["data"]) if row else key

    @_guarded
    def keys(self, job_id: str) -> dict[str, ProblemKey]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM keys WHERE job_id = ?", (job_id,)).fetchall()
        keys = [ProblemKey.model_validate_json(r["data"]) for r in rows]
        return {k.problem_id: k for k in keys}

    @_guarded
    def save_verdicts(self, job_id: str, verdicts: Iterable[ItemVerdict]) -> int:
        rows = [(job_id, v.student, v.problem_id, v.model_dump_json()) for v in verdicts]
        with self._lock, self._db:
            self._db.execute("BEGIN")
            before = self._db.total_changes
            self._db.executemany(
                "INSERT OR IGNORE INTO verdicts (job_id, student, problem_id, data) VALUES (?, ?, ?, ?)", rows
            )
            added = self._db.total_changes - before
            self._touch(job_id)
        return added

    @_guarded
    def verdicts(self, job_id: str) -> list[ItemVerdict]:
        with self._lock:
            rows = self._db.execute(
                "SELECT data FROM verdicts WHERE job_id = ? ORDER BY seq", (job_id,)
            ).fetchall()
        return [ItemVerdict.model_validate_json(r["data"]) for r in rows]

    @_guarded
    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _touch(self, job_id: str) -> None:
        self._db.execute("UPDATE jobs SET updated_at = ? WHERE id = ?", (time.time(), job_id))


# Never the spec: a job's set may be megabytes, and a listing would read every one of them.
_INFO_SQL = """
SELECT j.id, j.status, j.title, j.problems_total, j.submissions_total, j.created_at, j.updated_at, j.error,
    (SELECT COUNT(*) FROM keys k WHERE k.job_id = j.id) AS problems_keyed,
    (SELECT COUNT(*) FROM verdicts v WHERE v.job_id = j.id) AS submissions_checked
FROM jobs j"""


def _info(row: sqlite3.Row) -> JobInfo:
    return JobInfo(
        id=row["id"],
        status=row["status"],
        title=row["title"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        error=row["error"],
        progress=Progress(
            problems_total=row["problems_total"],
            problems_keyed=row["problems_keyed"],
            submissions_total=row["submissions_total"],
            submissions_checked=row["submissions_checked"],
        ),
    )
