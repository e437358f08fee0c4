"""Where homework jobs live: the `JobStore` interface and its SQLite implementation.

Verdicts are keyed by (job, student, problem) and written with INSERT OR IGNORE in one transaction per batch,
so a job resumed after a crash never grades an item twice and never loses one that was written. Progress is
counted from those rows, so it cannot disagree with them. A server database (several replicas sharing jobs)
replaces `SqliteJobStore` by implementing the same methods.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from app.grading.models import (
    HomeworkSet,
    ItemVerdict,
    JobInfo,
    JobStatus,
    ProblemKey,
    Progress,
    validate_set,
)

__all__ = ["UNFINISHED", "IdempotencyKeyReused", "JobStore", "SqliteJobStore", "StoreUnavailable"]

UNFINISHED: tuple[JobStatus, ...] = ("queued", "running")


class StoreUnavailable(Exception):
    """The store cannot be read or written now (disk full, read-only, locked by another process, I/O error,
    not a database). Nothing was half-written: a job meeting it waits and retries, a request gets 503."""


class IdempotencyKeyReused(Exception):
    """An idempotency key already names a job whose homework set differs from the one sent now."""

    def __init__(self, key: str, job_id: str) -> None:
        self.key, self.job_id = key, job_id
        super().__init__(f"idempotency key {key!r} was used for a different homework set (job {job_id})")


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
    def create_keyed(self, homework: HomeworkSet, key: str) -> tuple[JobInfo, bool]:
        """The job stored under idempotency `key`, or a new one for `homework` stored under it; True if new.
        `IdempotencyKeyReused` if the key names a job of another set."""

    @abstractmethod
    def find_keyed(self, homework: HomeworkSet, key: str) -> JobInfo | None:
        """The job stored under `key` (None: none); `IdempotencyKeyReused` if it is of another set."""

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
    def leases(self) -> list[tuple[str, str | None, float | None]]:
        """(id, owner, lease expiry) of every unfinished job, oldest first."""

    @abstractmethod
    def claim(self, job_id: str, owner: str, lease_s: float, dead_owners: tuple[str, ...] = ()) -> bool:
        """Mark an unfinished job running under `owner` for `lease_s` seconds, if nobody holds it (no owner,
        an expired lease, the owner itself, or one of `dead_owners`). True if `owner` now holds it."""

    @abstractmethod
    def renew(self, job_id: str, owner: str, lease_s: float) -> bool:
        """Extend `owner`'s lease on a running job; False if it lost it (taken over, cancelled, deleted)."""

    @abstractmethod
    def release(self, owner: str) -> None:
        """Drop every lease of `owner` (it stops), so another process resumes its jobs at once."""

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
        self._migrate()

    def _migrate(self) -> None:
        """Add the columns newer versions use to a store an older one made (one process at a time)."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            have = {r["name"] for r in self._db.execute("PRAGMA table_info(jobs)")}
            for column, kind in _ADDED_COLUMNS:
                if column not in have:
                    self._db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")
            self._db.execute(
                "CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency ON jobs(idempotency_key)"
                " WHERE idempotency_key IS NOT NULL"
            )

    @_guarded
    def create(self, homework: HomeworkSet) -> JobInfo:
        spec = homework.model_dump_json()
        with self._lock:
            job_id = self._insert(homework, spec, None)
        return self._must_info(job_id)

    @_guarded
    def create_keyed(self, homework: HomeworkSet, key: str) -> tuple[JobInfo, bool]:
        spec = homework.model_dump_json()
        fingerprint = _fingerprint(spec)
        # IMMEDIATE: another process sending the same key waits here, then finds this job
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            job_id = self._keyed_job(key, fingerprint)
            created = job_id is None
            if job_id is None:
                job_id = self._insert(homework, spec, (key, fingerprint))
        return self._must_info(job_id), created

    @_guarded
    def find_keyed(self, homework: HomeworkSet, key: str) -> JobInfo | None:
        with self._lock:
            found = self._db.execute("SELECT 1 FROM jobs WHERE idempotency_key = ?", (key,)).fetchone()
        if found is None:  # the common case: a first try, whose set need not be serialised here
            return None
        fingerprint = _fingerprint(homework.model_dump_json())
        with self._lock:
            job_id = self._keyed_job(key, fingerprint)
        return self.info(job_id) if job_id is not None else None

    def _keyed_job(self, key: str, fingerprint: str) -> str | None:
        row = self._db.execute(
            "SELECT id, request_hash FROM jobs WHERE idempotency_key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        if row["request_hash"] != fingerprint:
            raise IdempotencyKeyReused(key, row["id"])
        return row["id"]

    def _insert(self, homework: HomeworkSet, spec: str, keyed: tuple[str, str] | None) -> str:
        job_id = uuid.uuid4().hex
        now = time.time()
        key, fingerprint = keyed or (None, None)
        self._db.execute(
            "INSERT INTO jobs (id, status, title, spec, problems_total, submissions_total, created_at,"
            " updated_at, idempotency_key, request_hash) VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)",
            (job_id, homework.title, spec, len(homework.problems), len(homework.submissions), now, now, key,
             fingerprint),
        )  # fmt: skip
        return job_id

    def _must_info(self, job_id: str) -> JobInfo:
        info = self.info(job_id)
        if info is None:  # deleted by another request in the instant since it was written
            raise KeyError(job_id)
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
        return validate_set(json.loads(row["spec"]))

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
        # a job that ends drops its lease: nobody is to run it any more
        lease = "" if status in UNFINISHED else ", owner = NULL, lease_until = NULL"
        with self._lock:
            cursor = self._db.execute(
                f"UPDATE jobs SET status = ?, error = ?, updated_at = ?{lease} WHERE id = ?"
                f" AND status IN ({marks})",
                (status, error, time.time(), job_id, *allowed_from),
            )
        return cursor.rowcount == 1

    @_guarded
    def leases(self) -> list[tuple[str, str | None, float | None]]:
        marks = ",".join("?" * len(UNFINISHED))
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, owner, lease_until FROM jobs WHERE status IN ({marks}) ORDER BY created_at",
                UNFINISHED,
            ).fetchall()
        return [(r["id"], r["owner"], r["lease_until"]) for r in rows]

    @_guarded
    def claim(self, job_id: str, owner: str, lease_s: float, dead_owners: tuple[str, ...] = ()) -> bool:
        now = time.time()
        unfinished = ",".join("?" * len(UNFINISHED))
        dead = ",".join("?" * len(dead_owners)) or "NULL"
        with self._lock:
            cursor = self._db.execute(
                "UPDATE jobs SET status = 'running', owner = ?, lease_until = ?, updated_at = ?"
                f" WHERE id = ? AND status IN ({unfinished}) AND (owner IS NULL OR owner = ?"
                f" OR lease_until < ? OR owner IN ({dead}))",
                (owner, now + lease_s, now, job_id, *UNFINISHED, owner, now, *dead_owners),
            )
        return cursor.rowcount == 1

    @_guarded
    def renew(self, job_id: str, owner: str, lease_s: float) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE jobs SET lease_until = ? WHERE id = ? AND owner = ? AND status = 'running'",
                (time.time() + lease_s, job_id, owner),
            )
        return cursor.rowcount == 1

    @_guarded
    def release(self, owner: str) -> None:
        with self._lock:
            self._db.execute("UPDATE jobs SET owner = NULL, lease_until = NULL WHERE owner = ?", (owner,))

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


# Columns added after the first release, as (name, type): `_migrate` adds them to an older store.
_ADDED_COLUMNS = (
    ("idempotency_key", "TEXT"),
    ("request_hash", "TEXT"),
    ("owner", "TEXT"),
    ("lease_until", "REAL"),
)


def _fingerprint(spec: str) -> str:
    """What a retry must repeat: the set as stored (so JSON spacing and key order do not matter)."""
    return hashlib.sha256(spec.encode("utf-8", "surrogatepass")).hexdigest()


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
