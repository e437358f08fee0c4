"""Reports: hostile answers are escaped in HTML and defused in CSV; keys show confidence and review flags."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from app.grading import HomeworkSet, ItemVerdict, ProblemKey, SqliteJobStore, build_report, render_report

HOSTILE = '"><script>alert(1)</script>'


def _report(tmp_path: Path):
    store = SqliteJobStore(tmp_path / "r.sqlite3")
    homework = HomeworkSet.model_validate(
        {
            "title": "<i>Set</i>",
            "problems": [{"id": "p1", "problem": r"Find $\frac{a}{b}$ & more", "points": 2}],
            "submissions": [
                {"student": HOSTILE, "problem_id": "p1", "answer": '=HYPERLINK("http://evil")'},
                {"student": "ann", "problem_id": "p1", "answer": "-2, 1"},
            ],
        }
    )
    info = store.create(homework)
    store.save_key(
        info.id,
        ProblemKey(problem_id="p1", answer="1, -2", source="solver", confidence=0.5, needs_review=True,
                   trace="</pre><script>x()</script>"),
    )  # fmt: skip
    store.save_verdicts(
        info.id,
        [
            ItemVerdict(student=HOSTILE, problem_id="p1", answer='=HYPERLINK("http://evil")',
                        equivalent=False, reason="parse_error", max_points=2),
            ItemVerdict(student="ann", problem_id="p1", answer="-2, 1", answer_parsed="-2, 1",
                        equivalent=True, reason="equal_symbolic", points=2, max_points=2),
        ],
    )  # fmt: skip
    report = build_report(store, info.id)
    store.close()
    return report


def test_html_escapes_every_user_value_and_needs_nothing_online(tmp_path: Path) -> None:
    page = render_report(_report(tmp_path), "html")
    assert "<script>" not in page and "<i>Set</i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;/pre&gt;&lt;script&gt;x()&lt;/script&gt;" in page  # the trace cannot close its <pre>
    assert '<span class="math">Find $\\frac{a}{b}$ &amp; more</span>' in page
    assert "50%" in page and "needs review" in page
    assert "src=" not in page and "href=" not in page


def test_csv_defuses_formulas_but_keeps_math(tmp_path: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(render_report(_report(tmp_path), "csv"))))
    by_student = {r["student"]: r for r in rows}
    assert by_student["ann"]["answer"] == "-2, 1"
    assert by_student["ann"]["key"] == "1, -2"
    assert by_student[HOSTILE]["answer"].startswith("'=HYPERLINK")
    assert (by_student["ann"]["key_confidence"], by_student["ann"]["needs_review"]) == ("0.500", "True")


def test_json_scores(tmp_path: Path) -> None:
    data = json.loads(render_report(_report(tmp_path), "json"))
    assert {s["student"]: s["score"] for s in data["students"]} == {HOSTILE: 0.0, "ann": 2.0}
    assert data["problems"][0]["key"]["needs_review"] is True


def test_a_right_to_left_override_in_a_name_cannot_reorder_the_score(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "r.sqlite3")
    name = "\u202emallory"
    homework = HomeworkSet.model_validate(
        {
            "problems": [{"id": "p\u202e1", "reference": "1", "points": 10}],
            "submissions": [{"student": name, "problem_id": "p\u202e1", "answer": "\u202e2"}],
        }
    )
    info = store.create(homework)
    store.save_verdicts(
        info.id,
        [ItemVerdict(student=name, problem_id="p\u202e1", answer="\u202e2", equivalent=False,
                     reason="not_equal", max_points=10)],
    )  # fmt: skip
    page = render_report(build_report(store, info.id), "html")
    store.close()
    assert f"<h3><bdi>{name}</bdi>: 0 / 10</h3>" in page  # the score sits outside the isolated name
    assert f"<td><bdi>{name}</bdi></td>" in page and "<th><bdi>p\u202e1</bdi></th>" in page
    assert ".math{unicode-bidi:isolate}" in page  # answers are isolated too
    isolated = re.sub(r'<bdi>.*?</bdi>|<span class="math">.*?</span>', "", page)
    assert "\u202e" not in isolated  # every user string is in an isolate
