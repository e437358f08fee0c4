"""Reading an evaluation set from JSONL: MATH-500, GSM8K and plain `{id, problem, answer}` records.

The shape is detected from the first record (flags override each field); every line is then read with the
same fields, so a record that lacks one is an error naming its line, found before any problem is solved.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DatasetError", "EvalItem", "Fields", "detect_fields", "read_dataset"]

_PROBLEM_FIELDS = ("problem", "question")
_ANSWER_FIELDS = ("answer", "gt", "solution")  # `solution` ends in \boxed{}, which the checker extracts
_ID_FIELDS = ("unique_id", "id", "idx")
_GSM8K_FINAL = re.compile(r"####\s*(.+?)\s*$", re.S)
_DIGIT_GROUPS = re.compile(r"-?\d{1,3}(,\d{3})+(\.\d+)?")


class DatasetError(ValueError):
    """The dataset cannot be read; the message names the file and the line."""


@dataclass(frozen=True, slots=True)
class Fields:
    """Which record fields hold the problem, the reference answer and the id (None: the line number)."""

    problem: str
    answer: str
    id: str | None
    shape: str  # "MATH-500", "GSM8K" or "plain": for the summary's first line


@dataclass(frozen=True, slots=True)
class EvalItem:
    id: str
    problem: str
    reference: str
    line: int
    subject: str | None = None
    level: str | None = None


def _first(record: dict[str, Any], names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in record), None)


def detect_fields(
    record: dict[str, Any],
    *,
    problem: str | None = None,
    answer: str | None = None,
    id_field: str | None = None,
) -> Fields:
    """The fields of `record`'s shape; explicit names win. Raises DatasetError naming what is missing."""
    problem = problem or _first(record, _PROBLEM_FIELDS)
    answer = answer or _first(record, _ANSWER_FIELDS)
    if problem is None or answer is None:
        missing = "problem" if problem is None else "answer"
        raise DatasetError(
            f"no {missing} field (fields: {', '.join(sorted(record)) or 'none'}); "
            f"name it with --{missing}-field"
        )
    id_field = id_field or _first(record, _ID_FIELDS)
    if problem == "question" and answer == "answer" and "####" in str(record.get("answer", "")):
        shape = "GSM8K"
    elif {"subject", "level", "unique_id"} <= record.keys():
        shape = "MATH-500"
    else:
        shape = "plain"
    return Fields(problem, answer, id_field, shape)


def _reference(value: Any) -> str:
    """The reference answer as text; a GSM8K worked solution gives its final `#### N` number."""
    text = str(value).strip()
    final = _GSM8K_FINAL.search(text)
    if final:
        text = final.group(1)
        if _DIGIT_GROUPS.fullmatch(text):  # GSM8K writes 1,000 for a thousand; never a list
            text = text.replace(",", "")
    return text


def _parse(raw: bytes, line: int) -> dict[str, Any] | None:
    """The JSON object on one line; None for a blank line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"line {line}: not UTF-8 text ({exc.reason} at byte {exc.start} of the line)"
        ) from None
    if not text.strip():
        return None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"line {line}: not valid JSON ({exc.msg}, column {exc.colno})") from None
    if not isinstance(record, dict):
        raise DatasetError(f"line {line}: a record must be a JSON object, not {type(record).__name__}")
    return record


def _item(record: dict[str, Any], fields: Fields, line: int) -> EvalItem:
    for name in (fields.problem, fields.answer) + ((fields.id,) if fields.id else ()):
        if record.get(name) is None:
            raise DatasetError(f"line {line}: no '{name}' field (fields: {', '.join(sorted(record))})")
    problem = record[fields.problem]
    if not isinstance(problem, str) or not problem.strip():
        raise DatasetError(f"line {line}: '{fields.problem}' must be non-empty text")
    reference = _reference(record[fields.answer])
    if not reference:
        raise DatasetError(f"line {line}: '{fields.answer}' is empty")
    subject, level = record.get("subject"), record.get("level")
    return EvalItem(
        id=str(record[fields.id]) if fields.id else str(line),
        problem=problem,
        reference=reference,
        line=line,
        subject=None if subject is None else str(subject),
        level=None if level is None else str(level),
    )


def read_dataset(
    path: Path,
    *,
    problem_field: str | None = None,
    answer_field: str | None = None,
    id_field: str | None = None,
    limit: int | None = None,
) -> tuple[list[EvalItem], Fields]:
    """The items of a JSONL file (blank lines skipped), the first `limit` only if given.

    Raises DatasetError (message starts with the path and names the line) on anything it cannot read.
    """
    items: list[EvalItem] = []
    fields: Fields | None = None
    seen: dict[str, int] = {}
    try:
        with path.open("rb") as f:
            for line_no, raw in enumerate(f, start=1):
                if limit is not None and len(items) >= limit:
                    break
                record = _parse(raw, line_no)
                if record is None:
                    continue
                if fields is None:
                    try:
                        fields = detect_fields(
                            record, problem=problem_field, answer=answer_field, id_field=id_field
                        )
                    except DatasetError as exc:
                        raise DatasetError(f"line {line_no}: {exc}") from None
                item = _item(record, fields, line_no)
                if item.id in seen:
                    raise DatasetError(f"line {line_no}: id {item.id!r} is already on line {seen[item.id]}")
                seen[item.id] = line_no
                items.append(item)
    except DatasetError as exc:
        raise DatasetError(f"{path}: {exc}") from None
    except OSError as exc:
        raise DatasetError(f"{path}: {exc.strerror or exc}") from None
    if fields is None:
        raise DatasetError(f"{path}: no records")
    return items, fields
