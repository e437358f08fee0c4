"""Homework sets from files (for the CLI).

Accepted layouts:
- one JSON file holding the whole set:
  ``{"title": ..., "strict": false, "problems": [...], "submissions": [...]}``;
- a problems file plus ``--submissions FILE``, each either CSV or JSONL (or a JSON list):
  problems have the columns/keys ``id, problem, reference, points`` (reference and points optional),
  submissions have ``student, problem_id, answer``.
CSV files need a header row; empty cells mean "not given". Validation errors come back as `HomeworkFileError`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.grading.models import HomeworkSet

__all__ = ["HomeworkFileError", "load_homework"]


class HomeworkFileError(ValueError):
    """A homework file that cannot be read or does not validate; the message names file, line and field."""


def load_homework(
    path: str | Path, submissions: str | Path | None = None, *, strict: bool | None = None
) -> HomeworkSet:
    """Read a homework set from `path` (and `submissions`, when the set is split over two files)."""
    path = Path(path)
    data: dict[str, Any]
    records = _records(path)
    data = dict(records) if isinstance(records, dict) else {"problems": records}
    if submissions is not None:
        sub_records = _records(Path(submissions))
        if isinstance(sub_records, dict):
            sub_records = sub_records.get("submissions", [])
        data["submissions"] = sub_records
    data.setdefault("title", path.stem)
    if strict is not None:
        data["strict"] = strict
    try:
        return HomeworkSet.model_validate(data)
    except ValidationError as exc:
        raise HomeworkFileError(_describe(exc)) from None


def _records(path: Path) -> list[dict[str, Any]] | dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise HomeworkFileError(f"{path}: cannot read: {exc}") from None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv(path, text)
    if suffix == ".jsonl":
        return _jsonl(path, text)
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise HomeworkFileError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        except (RecursionError, ValueError) as exc:  # nesting beyond the parser; a 5,000-digit number
            raise HomeworkFileError(f"{path}: unreadable JSON: {_json_cause(exc)}") from None
    raise HomeworkFileError(f"{path}: unknown file type {suffix!r} (use .json, .jsonl or .csv)")


def _csv(path: Path, text: str) -> list[dict[str, Any]]:
    # strict: a quote never closed is an error, not one cell swallowing the rest of the file
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    rows = []
    try:
        _check_header(path, reader.fieldnames)
        for row in reader:
            if None in row:
                raise HomeworkFileError(f"{path}:{reader.line_num}: more cells than header columns")
            rows.append({k.strip(): v.strip() for k, v in row.items() if v is not None and v.strip() != ""})
    except csv.Error as exc:
        # the record that failed starts on the line after the last one read whole
        line = reader.line_num + 1
        raise HomeworkFileError(f"{path}:{line}: unreadable CSV: {_csv_cause(exc)}") from None
    return rows


def _check_header(path: Path, fieldnames: Sequence[str] | None) -> None:
    if not fieldnames:
        raise HomeworkFileError(f"{path}: empty CSV file (a header row is required)")
    names = [n.strip() for n in fieldnames]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise HomeworkFileError(f"{path}:1: header names column(s) {twice} more than once")
    if len(names) == 1 and (other := next((d for d in ";\t|" if d in names[0]), None)):
        raise HomeworkFileError(
            f"{path}:1: the header has no commas but {other!r}: the file must be comma-separated"
        )


def _csv_cause(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return f"a cell is longer than {csv.field_size_limit()} characters"
    if "unexpected end of data" in text:
        return "a quoted cell is never closed"
    return text


def _jsonl(path: Path, text: str) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise HomeworkFileError(f"{path}:{number}: invalid JSON: {exc.msg}") from None
        except (RecursionError, ValueError) as exc:
            raise HomeworkFileError(f"{path}:{number}: unreadable JSON: {_json_cause(exc)}") from None
    return rows


def _json_cause(exc: Exception) -> str:
    return "nested too deeply" if isinstance(exc, RecursionError) else str(exc)


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors()[:10]:
        where = ".".join(str(p) for p in err["loc"]) or "set"
        lines.append(f"{where}: {err['msg']}")
    return "invalid homework set:\n  " + "\n  ".join(lines)
