"""Homework sets: validation, files, the SQLite store and the job runner (real pool, real SQLite file)."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.grading import (
    CheckerPool,
    HomeworkFileError,
    HomeworkRunner,
    HomeworkSet,
    ItemVerdict,
    ProblemKey,
    SolvedKey,
    SqliteJobStore,
    TooManyJobs,
    build_report,
    load_homework,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "app" / "examples" / "homework"


def _set(**extra: object) -> dict:
    data = {
        "problems": [{"id": "p1", "problem": "1+1?", "reference": "2"}, {"id": "p2", "reference": "0.5"}],
        "submissions": [
            {"student": "ann", "problem_id": "p1", "answer": "2"},
            {"student": "ann", "problem_id": "p2", "answer": "1/2"},
            {"student": "bob", "problem_id": "p1", "answer": "3"},
        ],
    }
    data.update(extra)
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"problems": []}, "problems"),
        ({"submissions": []}, "submissions"),
        (
            {"problems": [{"id": "p1", "reference": "2"}, {"id": "p1", "reference": "3"}]},
            "duplicate problem id",
        ),
        ({"submissions": [{"student": "a", "problem_id": "p9", "answer": "1"}]}, "submissions[0].problem_id"),
        (
            {"submissions": [{"student": "a", "problem_id": "p1", "answer": "1"}] * 2},
            "answered 'p1' more than once",
        ),
        ({"problems": [{"id": "p1"}]}, "give a `reference` or a `problem`"),
        ({"problems": [{"id": "p1", "reference": "1", "points": -1}]}, "points"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_sets_are_refused_with_the_cause_named(change: dict, message: str) -> None:
    data = _set()
    data.update(change)
    with pytest.raises(ValidationError, match=re.escape(message)):
        HomeworkSet.model_validate(data)


def test_example_set_reads_the_same_from_json_jsonl_and_csv() -> None:
    whole = load_homework(EXAMPLES / "homework.json")
    from_jsonl = load_homework(EXAMPLES / "problems.jsonl", EXAMPLES / "submissions.jsonl")
    from_csv = load_homework(EXAMPLES / "problems.csv", EXAMPLES / "submissions.csv")
    for other in (from_jsonl, from_csv):
        assert other.problems == whole.problems
        assert other.submissions == whole.submissions
    assert any(p.reference is None for p in whole.problems)  # one problem is keyed by the solver


def test_bad_files_name_file_line_and_field(tmp_path: Path) -> None:
    broken = tmp_path / "p.jsonl"
    broken.write_text('{"id": "p1", "reference": "1"}\n{not json\n')
    with pytest.raises(HomeworkFileError, match=r"p\.jsonl:2: invalid JSON"):
        load_homework(broken)
    subs = tmp_path / "s.csv"
    subs.write_text("student,problem_id,answer\nann,p7,3\n")
    good = tmp_path / "p.csv"
    good.write_text("id,reference\np1,1\n")
    with pytest.raises(HomeworkFileError, match="p7"):
        load_homework(good, subs)
    with pytest.raises(HomeworkFileError, match="unknown file type"):
        (tmp_path / "p.txt").write_text("id\n")
        load_homework(tmp_path / "p.txt")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("p.csv", '"id,reference\np1,1\n', r"p\.csv:1: unreadable CSV: a quoted cell is never closed"),
        ("p.csv", "id,reference\np1," + "9" * 200_000 + "\n", r"p\.csv:2: .*cell is longer than"),
        ("p.csv", "id;problem;reference\np1;x;1\n", r"p\.csv:1: .*no commas but ';'"),
        ("p.csv", "id\treference\np1\t1\n", r"p\.csv:1: .*no commas but '\\t'"),
        (
            "p.csv",
            "id,reference,id\np1,1,p2\n",
            r"p\.csv:1: header names column\(s\) \['id'\] more than once",
        ),
        ("p.json", "[" * 100_000 + "]" * 100_000, r"p\.json: unreadable JSON: nested too deeply"),
        (
            "p.jsonl",
            '{"id": "p1", "reference": 1' + "0" * 5000 + "}\n",
            r"p\.jsonl:1: unreadable JSON: .*digits",
        ),
    ],
)
def test_broken_files_are_refused_naming_the_line_and_cause(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(HomeworkFileError, match=message):
        load_homework(tmp_path / name)


def test_store_writes_each_verdict_once_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    store = SqliteJobStore(path)
    info = store.create(HomeworkSet.model_validate(_set()))
    item = ItemVerdict(student="ann", problem_id="p1", answer="2", equivalent=True, reason="equal_string")
    assert store.save_verdicts(info.id, [item]) == 1
    assert store.save_verdicts(info.id, [item, item.model_copy(update={"student": "bob"})]) == 1
    assert [(v.student, v.problem_id) for v in store.verdicts(info.id)] == [("ann", "p1"), ("bob", "p1")]
    progress = store.info(info.id).progress
    assert (progress.submissions_checked, progress.submissions_total) == (2, 3)
    assert store.unfinished() == [info.id]
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reopened = SqliteJobStore(path)
    assert reopened.info(info.id).progress.submissions_checked == 2
    reopened.close()


async_test = pytest.mark.asyncio(loop_scope="session")


@async_test
async def test_runner_grades_keys_with_the_solver_and_flags_low_confidence(
    tmp_path: Path, pool: CheckerPool
) -> None:
    asked: list[str] = []

    async def keyer(problem: str) -> SolvedKey:
        asked.append(problem)
        votes = [{"answer": "42", "count": 2}, {"answer": "41", "count": 1}]
        return SolvedKey(answer="42", confidence=2 / 3, votes=votes, trace="```python\nprint(6*7)\n```")

    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    runner = HomeworkRunner(store, pool, keyer, review_threshold=0.75, batch_size=2)
    homework = HomeworkSet.model_validate(
        {
            "problems": [
                {"id": "q1", "problem": "What is 6 times 7?", "points": 2},
                {"id": "q2", "reference": r"\frac{1}{2}"},
            ],
            "submissions": [
                {"student": "ann", "problem_id": "q1", "answer": r"\boxed{42}"},
                {"student": "ann", "problem_id": "q2", "answer": "0.5"},
                {"student": "bob", "problem_id": "q1", "answer": "41"},
                {"student": "bob", "problem_id": "q2", "answer": ""},
            ],
        }
    )
    info = await runner.submit(homework)
    final = await runner.wait(info.id)
    assert final.status == "completed"
    assert (final.progress.problems_keyed, final.progress.submissions_checked) == (2, 4)
    assert asked == ["What is 6 times 7?"]
    report = build_report(store, info.id)
    key = next(p.key for p in report.problems if p.id == "q1")
    assert (key.source, key.answer, key.needs_review) == ("solver", "42", True)
    assert key.confidence == pytest.approx(2 / 3)
    scores = {s.student: (s.score, s.max_score) for s in report.students}
    assert scores == {"ann": (3.0, 3.0), "bob": (0.0, 3.0)}
    reasons = {(i.student, i.problem_id): i.reason for s in report.students for i in s.items}
    assert reasons[("bob", "q2")] == "no_answer"
    store.close()


@async_test
async def test_runner_resumes_a_job_without_redoing_stored_verdicts(
    tmp_path: Path, pool: CheckerPool
) -> None:
    path = tmp_path / "jobs.sqlite3"
    homework = HomeworkSet.model_validate(
        {
            "problems": [{"id": "p1", "reference": "7"}],
            "submissions": [{"student": f"s{i}", "problem_id": "p1", "answer": str(i)} for i in range(40)],
        }
    )
    store = SqliteJobStore(path)
    info = store.create(homework)
    # A previous process stored a (deliberately odd) verdict for s7 and then died mid-job.
    earlier = ItemVerdict(student="s7", problem_id="p1", answer="7", equivalent=True, reason="equal_string",
                          message="written before the crash", points=1)  # fmt: skip
    store.save_verdicts(info.id, [earlier])
    assert store.transition(info.id, "running", ("queued",))
    runner = HomeworkRunner(store, pool, batch_size=8)
    assert await runner.resume() == [info.id]
    final = await runner.wait(info.id)
    assert final.status == "completed"
    verdicts = store.verdicts(info.id)
    assert len(verdicts) == 40
    assert len({v.student for v in verdicts}) == 40
    assert next(v for v in verdicts if v.student == "s7").message == "written before the crash"
    assert [v.student for v in verdicts if v.equivalent] == ["s7"]
    store.close()


@async_test
async def test_cancel_stops_a_job_and_keeps_what_was_graded(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    homework = HomeworkSet.model_validate(
        {
            "problems": [{"id": "p1", "reference": "3"}],
            "submissions": [
                {"student": f"s{i}", "problem_id": "p1", "answer": "5^(5^(5^(5^5)))"} for i in range(6)
            ],
        }
    )
    async with CheckerPool(workers=1, timeout=0.5) as slow_pool:
        runner = HomeworkRunner(store, slow_pool, batch_size=1)
        info = await runner.submit(homework)
        for _ in range(100):
            if store.info(info.id).progress.submissions_checked >= 1:
                break
            await asyncio.sleep(0.05)
        cancelled = await runner.cancel(info.id)
        assert cancelled.status == "cancelled"
        await runner.wait(info.id)
        checked = store.info(info.id).progress.submissions_checked
        assert 1 <= checked < 6
        assert {v.reason for v in store.verdicts(info.id)} == {"timeout"}
        await asyncio.sleep(0.7)
        assert store.info(info.id).progress.submissions_checked == checked
        assert store.unfinished() == []
    store.close()


def test_report_json_roundtrips(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    info = store.create(HomeworkSet.model_validate(_set()))
    report = build_report(store, info.id)
    data = json.loads(report.model_dump_json())
    assert [s["student"] for s in data["students"]] == ["ann", "bob"]
    assert build_report(store, "nope") is None
    store.close()


def test_status_transitions_are_compare_and_set(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    info = store.create(HomeworkSet.model_validate(_set()))
    assert store.transition(info.id, "cancelled", ("queued", "running"))
    # A runner that read "queued" just before the cancel cannot flip the job back to running.
    assert not store.transition(info.id, "running", ("queued", "running"))
    assert store.status(info.id) == "cancelled"
    assert store.unfinished() == []
    store.close()


@async_test
async def test_unkeyable_problems_are_flagged_and_their_items_not_counted(
    tmp_path: Path, pool: CheckerPool
) -> None:
    async def broken(problem: str) -> SolvedKey:
        raise ConnectionError("model server down")

    homework = HomeworkSet.model_validate(
        {
            "problems": [{"id": "a", "problem": "What is 1+1?"}, {"id": "b", "reference": "3"}],
            "submissions": [
                {"student": "ann", "problem_id": "a", "answer": "2"},
                {"student": "ann", "problem_id": "b", "answer": "3"},
            ],
        }
    )
    for keyer, error in ((None, "no solver is configured"), (broken, "ConnectionError: model server down")):
        store = SqliteJobStore(tmp_path / f"{error[:5]}.sqlite3")
        runner = HomeworkRunner(store, pool, keyer)
        info = await runner.submit(homework)
        assert (await runner.wait(info.id)).status == "completed"
        key = store.keys(info.id)["a"]
        assert (key.answer, key.source, key.needs_review) == (None, "unavailable", True)
        assert error in key.error
        reasons = {v.problem_id: (v.reason, v.points) for v in store.verdicts(info.id)}
        assert reasons == {"a": ("no_reference", 0.0), "b": ("equal_string", 1.0)}
        store.close()


@async_test
async def test_delete_stops_a_running_job_and_removes_everything(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    store = SqliteJobStore(path)
    homework = HomeworkSet.model_validate(
        {
            "problems": [{"id": "p1", "reference": "3"}],
            "submissions": [
                {"student": f"s{i}", "problem_id": "p1", "answer": "5^(5^(5^(5^5)))"} for i in range(4)
            ],
        }
    )
    async with CheckerPool(workers=1, timeout=0.5) as slow_pool:
        runner = HomeworkRunner(store, slow_pool, batch_size=1)
        info = await runner.submit(homework)
        for _ in range(100):  # polling the store, as a client polls GET /homework/{id}
            if store.info(info.id).progress.submissions_checked >= 1:
                break
            await asyncio.sleep(0.05)
        assert await runner.delete(info.id)
        assert not await runner.delete(info.id)
    assert store.info(info.id) is None
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM verdicts").fetchone() == (0,)
        assert db.execute("SELECT COUNT(*) FROM keys").fetchone() == (0,)


@async_test
async def test_concurrent_submissions_never_overshoot_the_bound_on_unfinished_jobs(
    tmp_path: Path, pool: CheckerPool
) -> None:
    release = asyncio.Event()

    async def keyer(problem: str) -> SolvedKey:
        await release.wait()  # every job stays unfinished until the test lets it go
        return SolvedKey(answer="2", confidence=1.0)

    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    runner = HomeworkRunner(store, pool, keyer, max_unfinished=3)
    homework = HomeworkSet.model_validate(
        {"problems": [{"id": "p", "problem": "1+1?"}], "submissions": [{"student": "a", "problem_id": "p"}]}
    )
    results = await asyncio.gather(*(runner.submit(homework) for _ in range(10)), return_exceptions=True)
    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, TooManyJobs)]
    assert (len(accepted), len(refused)) == (3, 7), results
    assert all(r.unfinished == 3 and r.limit == 3 and 1 <= r.retry_after <= 60 for r in refused)
    assert store.count_unfinished() == 3
    release.set()
    assert [(await runner.wait(info.id)).status for info in accepted] == ["completed"] * 3
    assert store.count_unfinished() == 0
    assert (await runner.submit(homework)).status == "queued"
    await runner.close()
    store.close()


@async_test
async def test_a_key_another_process_stored_first_is_the_one_items_are_graded_against(
    tmp_path: Path, pool: CheckerPool
) -> None:
    path = tmp_path / "jobs.sqlite3"
    store = SqliteJobStore(path)
    other = SqliteJobStore(path)  # a second service on the same file, grading the same job
    homework = HomeworkSet.model_validate(
        {
            "problems": [{"id": "q", "problem": "What is 3 + 5?"}],
            "submissions": [
                {"student": "ann", "problem_id": "q", "answer": "8"},
                {"student": "bob", "problem_id": "q", "answer": "7"},
            ],
        }
    )

    async def keyer(problem: str) -> SolvedKey:
        # While this solve runs, the other process stores its own key for the problem.
        job_id = store.list(1)[0].id
        other.save_key(job_id, ProblemKey(problem_id="q", answer="8", source="solver", confidence=1.0))
        return SolvedKey(answer="7", confidence=0.6)

    runner = HomeworkRunner(store, pool, keyer)
    info = await runner.submit(homework)
    assert (await runner.wait(info.id)).status == "completed"
    report = build_report(store, info.id)
    assert report.problems[0].key.answer == "8"
    correct = {i.student: i.equivalent for s in report.students for i in s.items}
    assert correct == {"ann": True, "bob": False}  # consistent with the key the report shows
    store.close()
    other.close()
