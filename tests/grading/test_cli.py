"""`tirsolve check` and `tirsolve grade` as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EXAMPLES = ROOT / "app" / "examples" / "homework"


def tirsolve(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TIRSOLVE_")} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=clean, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def test_check_prints_the_verdict_as_json() -> None:
    equal = tirsolve("check", r"\frac14", "0.25")
    assert equal.returncode == 0, equal.stderr
    assert json.loads(equal.stdout)["reason"] == "equal_numeric"
    unequal = tirsolve("check", "5", "0.05")
    assert unequal.returncode == 1
    verdict = json.loads(unequal.stdout)
    assert (verdict["equivalent"], verdict["reason"]) == (False, "not_equal")
    assert (verdict["reference_parsed"], verdict["answer_parsed"]) == ("5", "0.05")
    strict = tirsolve("check", r"\frac{1}{2}", "2/4", "--strict")
    assert json.loads(strict.stdout)["reason"] == "not_simplified"


def test_check_stops_a_runaway_input() -> None:
    result = tirsolve("check", "3", "5^(5^(5^(5^5)))", "--timeout", "1")
    assert result.returncode == 1
    assert json.loads(result.stdout)["reason"] == "timeout"


def test_grade_the_example_set_with_the_solver_keying_the_unreferenced_problem(
    start_replay, tmp_path: Path
) -> None:
    replay = start_replay(HERE / "trajectories.jsonl")
    env = {
        "TIRSOLVE_MODEL_BASE_URL": replay.url,
        "TIRSOLVE_MODEL_NAME": "replay",
        "TIRSOLVE_KEY_SAMPLES": "2",
        "TIRSOLVE_SANDBOX_TIMEOUT_S": "30",  # a loaded CI machine must not fail the keying sample
    }
    out = tmp_path / "report.json"
    result = tirsolve(
        "grade", str(EXAMPLES / "problems.csv"), "--submissions", str(EXAMPLES / "submissions.jsonl"),
        "--out", str(out), env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "28/28" in result.stderr  # the progress bar ran to the end
    report = json.loads(out.read_text())
    assert report["job"]["status"] == "completed"
    keys = {p["id"]: p["key"] for p in report["problems"]}
    assert (keys["p7"]["source"], keys["p7"]["answer"], keys["p7"]["confidence"]) == (
        "solver",
        r"\frac{1}{2}",
        1.0,
    )
    scores = {s["student"]: s["score"] for s in report["students"]}
    assert scores == {"ada": 9.0, "ben": 6.0, "cleo": 4.0, "dan": 5.0}  # cleo: 75 for 75\% counts
    verdicts = {(i["student"], i["problem_id"]): i["reason"] for s in report["students"] for i in s["items"]}
    assert verdicts[("cleo", "p6")] == "equal_decimal"  # 7.0711 for 5*sqrt(2)
    assert verdicts[("dan", "p2")] == "no_answer"
    assert verdicts[("dan", "p7")] == "not_equal"  # 0.33 is not 1/2


def test_grade_writes_html_and_csv_and_refuses_bad_files(tmp_path: Path) -> None:
    keyed = tmp_path / "set.json"
    data = json.loads((EXAMPLES / "homework.json").read_text())
    data["problems"] = [p for p in data["problems"] if p.get("reference")]
    data["submissions"] = [s for s in data["submissions"] if s["problem_id"] != "p7"]
    keyed.write_text(json.dumps(data))
    html = tmp_path / "r.html"
    assert tirsolve("grade", str(keyed), "--out", str(html), "--no-progress").returncode == 0
    page = html.read_text()
    assert page.startswith("<!doctype html>") and "&lt;script&gt;" in page and "<script>" not in page
    as_csv = tirsolve("grade", str(keyed), "--format", "csv", "--no-progress")
    assert as_csv.returncode == 0 and as_csv.stdout.count("\n") == 1 + len(data["submissions"])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"problems": [{"id": "a", "reference": "1"}], "submissions": [
        {"student": "x", "problem_id": "b", "answer": "1"}]}))  # fmt: skip
    refused = tirsolve("grade", str(bad))
    assert refused.returncode == 2
    assert "submissions[0].problem_id" in refused.stderr and "Traceback" not in refused.stderr
