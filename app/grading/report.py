"""Grading reports of a job: JSON, CSV (one row per graded item) and a self-contained HTML page.

The HTML page works offline (no scripts, no CDN). LaTeX is shown as text inside ``<span class="math">`` so a
later change can render it with a vendored KaTeX. Every value is escaped: student answers are hostile input.
"""

from __future__ import annotations

import csv
import io
import re
import threading
from collections import OrderedDict
from html import escape
from typing import Literal

from pydantic import BaseModel

from app.grading.models import ItemVerdict, JobInfo, ProblemKey
from app.grading.store import JobStore

__all__ = [
    "ProblemReport",
    "RenderedReports",
    "Report",
    "ReportFormat",
    "StudentReport",
    "build_report",
    "render_report",
]

ReportFormat = Literal["json", "csv", "html"]
MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
}


class ProblemReport(BaseModel):
    id: str
    problem: str
    points: float
    key: ProblemKey | None


class StudentReport(BaseModel):
    student: str
    score: float
    max_score: float
    items: list[ItemVerdict]


class Report(BaseModel):
    job: JobInfo
    strict: bool
    problems: list[ProblemReport]
    students: list[StudentReport]


def build_report(store: JobStore, job_id: str) -> Report | None:
    """The job's report as far as it has got (check `job.status` for completeness); None if unknown."""
    info = store.info(job_id)
    if info is None:
        return None
    try:
        homework = store.homework(job_id)
    except KeyError:  # deleted between the two reads
        return None
    keys = store.keys(job_id)
    problems = [
        ProblemReport(id=p.id, problem=p.problem, points=p.points, key=keys.get(p.id))
        for p in homework.problems
    ]
    max_score = sum(p.points for p in homework.problems)
    order = {p.id: i for i, p in enumerate(homework.problems)}
    by_student: dict[str, list[ItemVerdict]] = {s.student: [] for s in homework.submissions}
    for verdict in store.verdicts(job_id):
        by_student.setdefault(verdict.student, []).append(verdict)
    students = [
        StudentReport(
            student=name,
            score=sum(v.points for v in items),
            max_score=max_score,
            items=sorted(items, key=lambda v: order.get(v.problem_id, 0)),
        )
        for name, items in by_student.items()
    ]
    return Report(job=info, strict=homework.strict, problems=problems, students=students)


def render_report(report: Report, fmt: ReportFormat) -> str:
    """The report as a JSON document, a CSV table or an HTML page."""
    if fmt == "json":
        return report.model_dump_json(indent=2)
    if fmt == "csv":
        return _csv(report)
    if fmt == "html":
        return _html(report)
    raise ValueError(f"unknown report format {fmt!r}")


class RenderedReports:
    """The last `size` reports rendered, each kept while its job's `updated_at` and `status` are unchanged:
    a class reloading a finished job's report gets one build (seconds and ~150 MB at 100,000 items), not
    one each. Thread-safe; `render` runs in a worker thread."""

    def __init__(self, store: JobStore, size: int = 4) -> None:
        self.store = store
        self.size = size
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple[str, str], tuple[tuple[float, str], str]] = OrderedDict()

    def render(self, job_id: str, fmt: ReportFormat) -> str | None:
        """The job's report in `fmt`, None if there is no such job."""
        info = self.store.info(job_id)
        if info is None:
            return None
        with self._lock:
            kept = self._kept.get((job_id, fmt))
        if kept is not None and kept[0] == (info.updated_at, info.status):
            return kept[1]
        report = build_report(self.store, job_id)
        if report is None:
            return None
        body = render_report(report, fmt)
        with self._lock:
            self._kept[(job_id, fmt)] = ((report.job.updated_at, report.job.status), body)
            self._kept.move_to_end((job_id, fmt))
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return body


_CSV_COLUMNS = [
    "student", "problem_id", "answer", "answer_parsed", "key", "key_confidence", "needs_review", "equivalent",
    "reason", "message", "points", "max_points",
]  # fmt: skip


def _csv(report: Report) -> str:
    keys = {p.id: p.key for p in report.problems}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_COLUMNS)
    for student in report.students:
        for item in student.items:
            key = keys.get(item.problem_id)
            writer.writerow(
                [
                    _csv_safe(item.student), _csv_safe(item.problem_id), _csv_safe(item.answer),
                    _csv_safe(item.answer_parsed or ""), _csv_safe(key.answer or "") if key else "",
                    f"{key.confidence:.3f}" if key else "", bool(key and key.needs_review), item.equivalent,
                    item.reason, item.message, item.points, item.max_points,
                ]
            )  # fmt: skip
    return out.getvalue()


def _csv_safe(value: str) -> str:
    """Defuse spreadsheet formulas (``=HYPERLINK(...)``, ``-cmd|...``) with a leading quote.

    Cells starting with ``=``, ``@``, tab or CR are always quoted; ``+``/``-`` only when a call, pipe or
    reference follows, so ``-2, 1`` and ``-\\frac{2}{3}`` stay as the student wrote them.
    """
    first = value[:1]
    if first in ("=", "@", "\t", "\r") or (first in ("+", "-") and _FORMULA_HINT.search(value)):
        return "'" + value
    return value


_FORMULA_HINT = re.compile(r"[(|!=@;]")


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;
vertical-align:top}th{background:#f3f3f3}.ok{color:#176a1d}.bad{color:#a11}.review{background:#fff3cd}
.math{font-family:"Latin Modern Math","STIX Two Math",serif;white-space:pre-wrap}.reason{color:#666;
font-size:.85em}details pre{white-space:pre-wrap;max-width:60rem;background:#f7f7f7;padding:.5rem}
.math{unicode-bidi:isolate}
"""


def _name(value: str) -> str:
    """A student's or problem's name, isolated: a right-to-left override in it (U+202E) cannot reorder the
    text after it, such as the score beside the name ("0 / 10" shown as "01 / 0")."""
    return f"<bdi>{escape(value)}</bdi>"


def _math(value: str | None) -> str:
    return '<span class="math">' + escape(value or "") + "</span>" if value else "&mdash;"


def _html(report: Report) -> str:
    job = report.job
    title = escape(job.title or f"Homework {job.id}")
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{title}</h1>",
        f"<p>Job <code>{escape(job.id)}</code>: <strong>{escape(job.status)}</strong>, "
        f"{job.progress.submissions_checked}/{job.progress.submissions_total} submissions checked, "
        f"{job.progress.problems_keyed}/{job.progress.problems_total} problems keyed"
        f"{', strict mode' if report.strict else ''}.</p>",
        _html_scores(report),
        _html_keys(report),
        _html_items(report),
        "</body></html>",
    ]
    return "\n".join(parts)


def _html_scores(report: Report) -> str:
    head = "".join(f"<th>{_name(p.id)}</th>" for p in report.problems)
    rows = []
    for student in report.students:
        marks = {i.problem_id: i for i in student.items}
        cells = "".join(_mark(marks.get(p.id)) for p in report.problems)
        rows.append(
            f"<tr><td>{_name(student.student)}</td>{cells}"
            f"<td><strong>{student.score:g}</strong> / {student.max_score:g}</td></tr>"
        )
    return f"<h2>Scores</h2><table><tr><th>Student</th>{head}<th>Score</th></tr>{''.join(rows)}</table>"


def _mark(item: ItemVerdict | None) -> str:
    if item is None:
        return "<td>&mdash;</td>"
    sign, cls = ("&#10003;", "ok") if item.equivalent else ("&#10007;", "bad")
    return f'<td class="{cls}" title="{escape(item.reason)}">{sign}</td>'


def _html_keys(report: Report) -> str:
    rows = []
    for p in report.problems:
        key = p.key
        review = key is not None and key.needs_review
        source = escape(key.source) if key else "pending"
        confidence = f"{key.confidence:.0%}" if key else "&mdash;"
        trace = ""
        if key is not None and key.trace:
            trace = f"<details><summary>solver trace</summary><pre>{escape(key.trace)}</pre></details>"
        flag = " <strong>needs review</strong>" if review else ""
        error = f'<div class="reason">{escape(key.error)}</div>' if key is not None and key.error else ""
        rows.append(
            f"<tr{' class=review' if review else ''}><td>{_name(p.id)}</td><td>{_math(p.problem)}</td>"
            f"<td>{_math(key.answer if key else None)}{error}{trace}</td><td>{source}</td>"
            f"<td>{confidence}{flag}</td><td>{p.points:g}</td></tr>"
        )
    return (
        "<h2>Answer key</h2><table><tr><th>Problem</th><th>Statement</th><th>Key</th><th>Source</th>"
        f"<th>Confidence</th><th>Points</th></tr>{''.join(rows)}</table>"
    )


def _html_items(report: Report) -> str:
    sections = []
    for student in report.students:
        rows = "".join(
            f"<tr><td>{_name(i.problem_id)}</td><td>{_math(i.answer)}</td><td>{_math(i.answer_parsed)}</td>"
            f'<td class="{"ok" if i.equivalent else "bad"}">{"correct" if i.equivalent else "incorrect"}'
            f'<div class="reason">{escape(i.reason)}: {escape(i.message)}</div></td>'
            f"<td>{i.points:g} / {i.max_points:g}</td></tr>"
            for i in student.items
        )
        sections.append(
            f"<h3>{_name(student.student)}: {student.score:g} / {student.max_score:g}</h3>"
            "<table><tr><th>Problem</th><th>Answer</th><th>Read as</th><th>Verdict</th><th>Points</th></tr>"
            f"{rows}</table>"
        )
    return "<h2>Answers</h2>" + "".join(sections)
