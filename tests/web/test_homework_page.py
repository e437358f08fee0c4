"""The homework page in Chromium: upload the example set, watch the job, read the report it shows."""

from __future__ import annotations

import json
import re

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import Proc
from tests.web.conftest import HOMEWORK, screenshot


def job_id(page: Page) -> str:
    expect(page).to_have_url(re.compile(r"#job=.+"))
    return page.url.split("#job=", 1)[1]


def api_report(service: Proc, job: str) -> dict:
    return httpx.get(f"{service.url}/homework/{job}/report", params={"format": "json"}, timeout=30).json()


def wait_for_report(page: Page) -> None:
    expect(page.locator("#report")).to_be_visible(timeout=60_000)
    expect(page.locator("#job-status")).to_contain_text("completed")


def test_upload_csv_pair_and_read_the_scores(page: Page, web_service: Proc) -> None:
    page.goto("/homework.html")
    page.get_by_label("Homework set or problems", exact=True).set_input_files(HOMEWORK / "problems.csv")
    page.get_by_label("Submissions", exact=True).set_input_files(HOMEWORK / "submissions.csv")
    page.get_by_role("button", name="Grade").click()
    expect(page.locator("#set-summary")).to_have_text("7 problems, 28 answers from 4 students.")
    wait_for_report(page)
    report = api_report(web_service, job_id(page))
    assert report["job"]["status"] == "completed"

    # every student's score on the page is the service's score
    rows = page.locator("table.scores tbody tr")
    expect(rows).to_have_count(len(report["students"]))
    for student in report["students"]:
        row = page.locator(f"table.scores tbody tr[data-student='{student['student']}']")
        expected = f"{student['score']:g} / {student['max_score']:g}"
        expect(row.locator("td.score")).to_have_text(expected)
        marks = [("✓" if item["equivalent"] else "✗") for item in student["items"]]
        expect(row.locator("td.mark span[aria-hidden]")).to_have_text(marks)
    assert len({s["score"] for s in report["students"]}) > 1  # the set separates good and bad answers

    # keys with confidence; the solver-keyed problem (no reference) shows its source
    keys = page.locator("table.keys tbody tr")
    expect(keys).to_have_count(7)
    solved = next(p for p in report["problems"] if p["key"]["source"] == "solver")
    solved_row = page.locator(f"table.keys tr[data-problem='{solved['id']}']")
    expect(solved_row.locator("td").nth(2)).to_have_text("solver")
    expect(solved_row.locator("td.confidence")).to_contain_text(
        f"{round(solved['key']['confidence'] * 100)}%"
    )
    expect(solved_row.locator(".katex").first).to_be_visible()  # key typeset
    review = [p["id"] for p in report["problems"] if p["key"]["needs_review"]]
    expect(page.locator("table.keys tr.needs-review")).to_have_count(len(review))

    # per-item verdicts with reasons
    first = report["students"][0]
    details = page.locator(f"details.student[data-student='{first['student']}']")
    details.locator("summary").click()
    expect(details.locator("tbody tr")).to_have_count(len(first["items"]))
    expect(details.locator("td.reason").first).to_contain_text(first["items"][0]["reason"])

    # downloads point at the service's CSV and JSON reports
    csv_link = page.get_by_role("link", name="Download CSV")
    href = csv_link.get_attribute("href")
    csv_text = httpx.get(f"{web_service.url}/{href}", timeout=30).text
    assert csv_text.startswith("student,problem_id,answer")
    assert page.get_by_role("link", name="Download JSON").get_attribute("href").endswith("format=json")
    screenshot(page, "homework-report")


def test_upload_one_json_set_and_hostile_answers_stay_text(page: Page, web_service: Proc) -> None:
    page.goto("/homework.html")
    page.get_by_label("Homework set or problems", exact=True).set_input_files(HOMEWORK / "homework.json")
    page.get_by_label("Strict").check()
    page.get_by_role("button", name="Grade").click()
    wait_for_report(page)
    report = api_report(web_service, job_id(page))
    assert report["strict"] is True
    title = json.loads((HOMEWORK / "homework.json").read_text())["title"]
    expect(page.locator("#job-status")).to_contain_text(title)
    assert page.evaluate("window.__pwned") is None
    expect(page.locator("main").locator("img, script, iframe")).to_have_count(0)
    answers = [i["answer"] for s in report["students"] for i in s["items"]]
    hostile = next(a for a in answers if "<" in a)  # the example set has a hostile student
    student = next(s["student"] for s in report["students"] for i in s["items"] if i["answer"] == hostile)
    details = page.locator(f"details.student[data-student='{student}']")
    details.locator("summary").click()
    expect(details.locator("td.student-answer", has_text=hostile)).to_have_count(1)
    screenshot(page, "homework-json-strict-hostile")
    # the job shows up in the recent jobs list
    expect(page.locator("#recent-jobs a", has_text=title).first).to_be_visible()


def test_a_bad_set_is_refused_with_the_field_named(page: Page, tmp_path) -> None:
    problems = tmp_path / "problems.csv"
    problems.write_text("id,problem,reference\np1,What is 1+1?,2\n")
    submissions = tmp_path / "submissions.csv"
    submissions.write_text("student,problem_id,answer\nada,p9,2\n")
    page.goto("/homework.html")
    page.get_by_label("Homework set or problems", exact=True).set_input_files(problems)
    page.get_by_label("Submissions", exact=True).set_input_files(submissions)
    page.get_by_role("button", name="Grade").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("p9")
    expect(alert).to_contain_text("names no problem")
    expect(page.locator("#report")).to_be_hidden()


def test_a_broken_csv_is_refused_in_the_browser(page: Page, tmp_path) -> None:
    problems = tmp_path / "problems.csv"
    problems.write_text('id,problem,reference\np1,"What is 1+1?,2\n')
    page.goto("/homework.html")
    page.get_by_label("Homework set or problems", exact=True).set_input_files(problems)
    page.get_by_role("button", name="Grade").click()
    expect(page.get_by_role("alert")).to_have_text("problems.csv: line 2: a quoted cell is never closed")


def test_an_uncertain_solver_key_is_highlighted_for_review(page: Page, web_service: Proc, tmp_path) -> None:
    homework = {
        "title": "Needs review",
        "problems": [
            {"id": "mul", "problem": "What is 6 times 7?", "points": 2},
            {"id": "add", "problem": "What is 2 plus 2?"},
        ],
        "submissions": [
            {"student": "ada", "problem_id": "mul", "answer": "42"},
            {"student": "ada", "problem_id": "add", "answer": "4"},
            {"student": "ben", "problem_id": "mul", "answer": "41"},
        ],
    }
    path = tmp_path / "review.json"
    path.write_text(json.dumps(homework))
    page.goto("/homework.html")
    page.get_by_label("Homework set or problems", exact=True).set_input_files(path)
    page.get_by_role("button", name="Grade").click()
    wait_for_report(page)
    report = api_report(web_service, job_id(page))
    keys = {p["id"]: p["key"] for p in report["problems"]}
    assert keys["mul"]["needs_review"] and not keys["add"]["needs_review"]

    flagged = page.locator("table.keys tr.needs-review")
    expect(flagged).to_have_count(1)
    expect(flagged).to_have_attribute("data-problem", "mul")
    expect(flagged.locator(".badge")).to_have_text("needs review")
    expect(flagged.locator("td.confidence")).to_contain_text(f"{round(keys['mul']['confidence'] * 100)}%")
    # the items graded against the uncertain key are highlighted too
    page.locator("details.student[data-student='ben'] summary").click()
    expect(page.locator("details.student[data-student='ben'] tr.needs-review")).to_have_count(1)
    screenshot(page, "homework-needs-review")
    # the job id lives in the address: a reload (or a shared link) shows the same report
    page.reload()
    expect(page.locator("table.keys tr.needs-review")).to_have_count(1, timeout=30_000)


def test_cancel_stops_a_running_job_and_shows_what_was_graded(
    page: Page, slow_service: Proc, tmp_path
) -> None:
    homework = {
        "title": "To cancel",
        "problems": [
            {"id": "given", "problem": "What is 1+1?", "reference": "2"},
            {"id": "solve", "problem": "Find the sum of all positive divisors of 360."},
        ],
        "submissions": [
            {"student": "ada", "problem_id": "given", "answer": "2"},
            {"student": "ada", "problem_id": "solve", "answer": "1170"},
        ],
    }
    path = tmp_path / "cancel.json"
    path.write_text(json.dumps(homework))
    page.goto(slow_service.url + "/homework.html")
    page.get_by_label("Homework set or problems", exact=True).set_input_files(path)
    page.get_by_role("button", name="Grade").click()
    cancel = page.get_by_role("button", name="Cancel grading")
    expect(cancel).to_be_visible()
    cancel.click()  # the model needs 3 s to answer: the solver-keyed problem is still being solved
    expect(page.locator("#job-status")).to_contain_text("cancelled", timeout=20_000)
    expect(page.locator("#report")).to_be_visible()
    expect(cancel).to_be_hidden()
    report = api_report(slow_service, job_id(page))
    assert report["job"]["status"] == "cancelled"
    expect(page.locator("table.scores tbody tr")).to_have_count(len(report["students"]))
