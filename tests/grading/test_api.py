"""The homework API on a real service process, with unkeyed problems solved through the replay server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from app.grading import HomeworkSet, ItemVerdict, SqliteJobStore
from tests.conftest import free_port, start_process

HERE = Path(__file__).resolve().parent
TRAJECTORIES = HERE / "trajectories.jsonl"


@pytest.fixture(scope="module")
def api(start_replay, start_service, tmp_path_factory) -> Iterator[httpx.Client]:
    replay = start_replay(TRAJECTORIES)
    store = tmp_path_factory.mktemp("homework") / "jobs.sqlite3"
    service = start_service(
        replay.url, grading_store_path=store, key_samples=3, review_threshold=0.7, checker_timeout_s=1
    )
    with httpx.Client(base_url=service.url, timeout=30) as client:
        yield client
    service.stop()


def wait_done(api: httpx.Client, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = api.get(f"/homework/{job_id}").json()
        if info["status"] not in ("queued", "running"):
            return info
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {info['status']} after {timeout} s")


HOMEWORK = {
    "title": "Warm-up <b>1</b>",
    "problems": [
        {"id": "mul", "problem": "What is 6 times 7?", "points": 2},
        {"id": "add", "problem": "What is 2 plus 2?"},
        {"id": "half", "problem": "One half?", "reference": r"\frac{1}{2}"},
    ],
    "submissions": [
        {"student": "ann", "problem_id": "mul", "answer": "42"},
        {"student": "ann", "problem_id": "add", "answer": r"\boxed{4}"},
        {"student": "ann", "problem_id": "half", "answer": "0.5"},
        {
            "student": "<img src=x onerror=alert(1)>",
            "problem_id": "mul",
            "answer": "<script>alert(1)</script>",
        },
        {"student": "<img src=x onerror=alert(1)>", "problem_id": "half", "answer": '=HYPERLINK("http://x")'},
    ],
}


def test_submit_follow_and_report(api: httpx.Client) -> None:
    response = api.post("/homework", json=HOMEWORK)
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/homework/{job['id']}"
    assert job["progress"] == {
        "problems_total": 3, "problems_keyed": 0, "submissions_total": 5, "submissions_checked": 0,
    }  # fmt: skip
    done = wait_done(api, job["id"])
    assert done["status"] == "completed", done
    assert done["progress"]["problems_keyed"] == 3
    assert done["progress"]["submissions_checked"] == 5

    report = api.get(f"/homework/{job['id']}/report").json()
    keys = {p["id"]: p["key"] for p in report["problems"]}
    assert (keys["mul"]["source"], keys["mul"]["answer"]) == ("solver", "42")
    assert keys["mul"]["confidence"] == pytest.approx(2 / 3)
    assert keys["mul"]["needs_review"] is True  # 2 of 3 votes is below the 0.7 threshold
    assert "print(6 * 7)" in keys["mul"]["trace"]
    assert (keys["add"]["answer"], keys["add"]["confidence"], keys["add"]["needs_review"]) == (
        "4",
        1.0,
        False,
    )
    assert keys["half"]["source"] == "reference"
    scores = {s["student"]: (s["score"], s["max_score"]) for s in report["students"]}
    assert scores == {"ann": (4.0, 4.0), "<img src=x onerror=alert(1)>": (0.0, 4.0)}

    html = api.get(f"/homework/{job['id']}/report", params={"format": "html"})
    assert html.headers["content-type"].startswith("text/html")
    page = html.text
    assert "<script>alert(1)</script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '<span class="math">\\frac{1}{2}</span>' in page
    assert "<details><summary>solver trace</summary>" in page
    assert "class=review" in page and "needs review" in page
    assert "<script" not in page.lower().replace("&lt;script", "")  # offline: no scripts, no CDN
    assert "http" not in page.replace("http://x", "")

    csv_text = api.get(f"/homework/{job['id']}/report", params={"format": "csv"}).text
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("student,problem_id,answer")
    assert len(lines) == 1 + 5
    assert "'=HYPERLINK" in csv_text  # formula injection defused

    listed = api.get("/homework").json()
    assert job["id"] in [j["id"] for j in listed]
    # Cancelling a finished job changes nothing; deleting removes it.
    assert api.post(f"/homework/{job['id']}/cancel").json()["status"] == "completed"
    assert api.delete(f"/homework/{job['id']}").status_code == 204
    assert api.get(f"/homework/{job['id']}").status_code == 404
    assert api.get(f"/homework/{job['id']}/report").status_code == 404
    assert job["id"] not in [j["id"] for j in api.get("/homework").json()]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"problems": [], "submissions": []}, "problems"),
        ({**HOMEWORK, "problems": HOMEWORK["problems"] * 2}, "duplicate problem id"),
        ({**HOMEWORK, "submissions": [{"student": "a", "problem_id": "zzz", "answer": "1"}]}, "zzz"),
        ({**HOMEWORK, "submissions": "nope"}, "submissions"),
        ({"problems": [{"id": "x", "reference": "1", "points": "many"}], "submissions": []}, "points"),
    ],
)
def test_bad_sets_get_422_naming_the_cause(api: httpx.Client, body: dict, needle: str) -> None:
    response = api.post("/homework", json=body)
    assert response.status_code == 422
    assert needle in response.text


def test_unknown_jobs_and_formats(api: httpx.Client) -> None:
    assert api.get("/homework/nope").status_code == 404
    assert api.get("/homework/nope/report").status_code == 404
    assert api.delete("/homework/nope").status_code == 404
    assert api.post("/homework/nope/cancel").status_code == 404
    job = api.post("/homework", json=HOMEWORK).json()
    bad = api.get(f"/homework/{job['id']}/report", params={"format": "pdf"})
    assert bad.status_code == 422 and "format" in bad.text
    wait_done(api, job["id"])


def test_cancel_a_running_job(api: httpx.Client) -> None:
    runaway = {
        "problems": [{"id": "p", "reference": "3"}],
        "submissions": [
            {"student": f"s{i}", "problem_id": "p", "answer": "5^(5^(5^(5^5)))"} for i in range(40)
        ],
    }
    job = api.post("/homework", json=runaway).json()
    cancelled = api.post(f"/homework/{job['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    checked = cancelled.json()["progress"]["submissions_checked"]
    time.sleep(1.5)
    after = api.get(f"/homework/{job['id']}").json()
    assert after["status"] == "cancelled"
    assert after["progress"]["submissions_checked"] <= checked + 2  # at most the batch in flight lands
    assert api.get("/healthz").status_code == 200
    assert api.delete(f"/homework/{job['id']}").status_code == 204


def test_reports_may_run_no_script_and_are_never_sniffed(api: httpx.Client) -> None:
    job = api.post("/homework", json=HOMEWORK).json()
    wait_done(api, job["id"])
    for fmt in ("html", "csv", "json"):
        r = api.get(f"/homework/{job['id']}/report", params={"format": fmt})
        assert r.status_code == 200
        assert r.headers["x-content-type-options"] == "nosniff"
        policy = r.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy
    assert api.delete(f"/homework/{job['id']}").status_code == 204


def test_listing_jobs_does_not_read_their_sets(start_replay, start_service, tmp_path: Path) -> None:
    store_path = tmp_path / "big.sqlite3"
    store = SqliteJobStore(store_path)
    rows = [{"student": f"s{i}", "problem_id": "p", "answer": "x" * 60} for i in range(50_000)]
    big = HomeworkSet.model_validate({"problems": [{"id": "p", "reference": "1"}], "submissions": rows})
    for _ in range(20):  # 20 finished jobs of ~5 MB each
        store.transition(store.create(big).id, "cancelled", ("queued",))
    store.close()
    service = start_service(start_replay(TRAJECTORIES).url, grading_store_path=store_path)
    with httpx.Client(base_url=service.url, timeout=30) as client:
        client.get("/homework")  # warm the page cache: the disk is not what is measured
        started = time.monotonic()
        listed = client.get("/homework", params={"limit": 500})
        took = time.monotonic() - started
    assert listed.status_code == 200 and len(listed.json()) == 20
    assert took < 0.5, f"listing 20 jobs took {took:.2f} s"  # reading every set took 1-1.5 s here
    service.stop()


def test_a_problem_too_long_to_solve_is_flagged_at_once_not_retried(api: httpx.Client) -> None:
    long_problem = "Add these numbers: " + " + ".join(str(n) for n in range(100_000, 101_500))
    homework = {
        "problems": [{"id": "long", "problem": long_problem}],
        "submissions": [{"student": "ann", "problem_id": "long", "answer": "7"}],
    }
    job = api.post("/homework", json=homework).json()
    done = wait_done(api, job["id"], timeout=20)  # an outage would be retried for 110 s
    assert done["status"] == "completed", done
    key = api.get(f"/homework/{job['id']}/report").json()["problems"][0]["key"]
    assert key["source"] == "unavailable" and "too long" in key["error"], key


def test_a_model_outage_while_keying_is_waited_out(start_service, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    faulty = start_process(
        "faulty-model", ["-m", "tests.api.faulty_model", str(port)], f"{base}/control", base, {}
    )
    assert httpx.post(f"{base}/control/500").status_code == 200
    service = start_service(
        f"{base}/v1", grading_store_path=tmp_path / "jobs.sqlite3", key_samples=1, model_retries=0
    )
    homework = {
        "problems": [{"id": "q", "problem": "What is six times seven?"}],
        "submissions": [{"student": "ann", "problem_id": "q", "answer": "42"}],
    }
    with httpx.Client(base_url=service.url, timeout=30) as client:
        job = client.post("/homework", json=homework).json()
        time.sleep(2)  # the model server has failed the first solve by now
        assert client.get(f"/homework/{job['id']}").json()["progress"]["problems_keyed"] == 0
        assert httpx.post(f"{base}/control/ok").status_code == 200  # the model server is back
        done = wait_done(client, job["id"], timeout=60)
        report = client.get(f"/homework/{job['id']}/report").json()
    assert done["status"] == "completed"
    key = report["problems"][0]["key"]
    assert (key["source"], key["answer"]) == ("solver", "42"), key
    assert report["students"][0]["score"] == 1.0
    service.stop()
    faulty.stop()


def test_a_big_report_asked_for_by_many_at_once_is_built_once(
    start_replay, start_service, tmp_path: Path
) -> None:
    store_path = tmp_path / "report.sqlite3"
    store = SqliteJobStore(store_path)
    problems = [{"id": f"p{j}", "reference": "1"} for j in range(10)]
    rows = [
        {"student": f"s{i}", "problem_id": f"p{j}", "answer": "x+1"} for i in range(5000) for j in range(10)
    ]
    job_id = store.create(HomeworkSet.model_validate({"problems": problems, "submissions": rows})).id
    verdicts = [ItemVerdict(**r, equivalent=False, reason="not_equal") for r in rows]
    store.save_verdicts(job_id, verdicts)
    store.transition(job_id, "completed", ("queued",))
    store.close()
    service = start_service(start_replay(TRAJECTORIES).url, grading_store_path=store_path)
    url = f"{service.url}/homework/{job_id}/report?format=html"
    started = time.monotonic()
    first = httpx.get(url, timeout=120)
    one_build = time.monotonic() - started
    started = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        again = list(pool.map(lambda _: httpx.get(url, timeout=120), range(6)))
    six = time.monotonic() - started
    assert first.status_code == 200 and all(r.text == first.text for r in again)
    assert six < one_build, f"6 requests took {six:.1f} s, one build {one_build:.1f} s"  # 6 builds: ~5x
    assert httpx.delete(f"{service.url}/homework/{job_id}", timeout=30).status_code == 204
    assert httpx.get(url, timeout=30).status_code == 404  # nothing served from what was kept
    service.stop()
