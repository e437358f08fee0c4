"""The results file: one JSON line per problem, appended and flushed as each one finishes.

A run killed mid-write leaves at most a partial last line; opening the file again drops that line, so the
next run appends after the last whole record and skips the ids already done.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

__all__ = ["ResultsError", "ResultsFile"]


class ResultsError(ValueError):
    """The results file holds something other than results; the message names the line."""


class ResultsFile:
    """`load()` the records already there (the last one per id wins), then `append()` new ones."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self.dropped_partial_line = False
        self._needs_newline = False  # a whole last record written without its newline

    def load(self) -> dict[str, dict[str, Any]]:
        """Records by id; drops a last line cut short by a kill. Raises ResultsError on any other bad line."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ResultsError(f"{self.path}: {exc.strerror or exc}") from None
        records: dict[str, dict[str, Any]] = {}
        lines = data.split(b"\n")
        for line_no, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            record = _record(raw)
            if record is None and line_no == len(lines):  # no newline after it: the write was cut short
                self._truncate(len(data) - len(raw))
                continue
            if record is None:
                raise ResultsError(
                    f"{self.path}: line {line_no} is not a result of `tirsolve eval`; "
                    "give another --out or remove the line"
                )
            records[str(record["id"])] = record
        self._needs_newline = not self.dropped_partial_line and not data.endswith(b"\n") and bool(data)
        return records

    def _truncate(self, size: int) -> None:
        with self.path.open("r+b") as f:
            f.truncate(size)
        self.dropped_partial_line = True

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as a line and flush it to the OS, so a kill right after loses nothing."""
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
            if self._needs_newline:
                self._file.write("\n")
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _record(raw: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) and "id" in record else None
