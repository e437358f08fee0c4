"""`tirsolve eval` end to end against the real replay model server and the service."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Proc, StartReplay, StartService
from tests.evaluation.conftest import (
    BOXED_IN_OUTPUT,
    ROOTS,
    SQUARES,
    UNKNOWN,
    EvalCli,
    read_results,
    run_eval,
    write_jsonl,
)

SET = [
    {"id": "refused", "problem": UNKNOWN, "answer": "Paris", "subject": "Geography", "level": 1},
    {"id": "squares", "problem": SQUARES, "answer": "385", "subject": "Algebra", "level": 2},
    {"id": "roots", "problem": ROOTS, "answer": "12", "subject": "Algebra", "level": 3},
    {"id": "boxed", "problem": BOXED_IN_OUTPUT, "answer": "99", "subject": "Counting", "level": 1},
]


def test_scores_each_answer_and_records_a_refused_problem_as_an_error(
    service: Proc, eval_cli: EvalCli, tmp_path: Path
):
    data, out = write_jsonl(tmp_path / "set.jsonl", SET), tmp_path / "results.jsonl"
    # one at a time, the refused problem first: the run must go on after it
    run = eval_cli([str(data), "--out", str(out), "--service", service.url, "--concurrency", "1", "--json"])
    assert run.returncode == 1, run.stderr  # 1: some problem errored
    assert "Traceback" not in run.stderr
    results = read_results(out)
    assert list(results) == ["refused", "squares", "roots", "boxed"]
    refused = results["refused"]
    assert refused["error"]["kind"] == "model_rejected" and refused["error"]["status"] == 503
    assert refused["correct"] is False and refused["attempts"] == 1  # a refusal is not retried
    squares, roots, boxed = results["squares"], results["roots"], results["boxed"]
    assert squares["answer"] == "385" and squares["correct"] is True and squares["error"] is None
    assert squares["finish"] == ["answered"] and squares["confidence"] == 1.0
    assert squares["verdict"]["reason"].startswith("equal")
    assert roots["answer"] == "11" and roots["correct"] is False and roots["verdict"]["reason"] == "not_equal"
    assert boxed["answer"] is None and boxed["verdict"]["reason"] == "no_answer"
    assert squares["reference"] == "385" and squares["problem"] == SQUARES and squares["latency_ms"] > 0

    summary = json.loads(run.stdout)
    assert (summary["correct"], summary["attempted"], summary["problems"]) == (1, 3, 4)
    assert summary["accuracy"] == round(1 / 3, 4) and summary["accuracy_all"] == 0.25
    assert summary["errors_by_kind"] == {"model_rejected": 1} and summary["no_answer"] == 1
    assert summary["by_subject"]["Algebra"] == {"correct": 1, "attempted": 2, "total": 2, "accuracy": 0.5}
    assert summary["by_subject"]["Geography"]["attempted"] == 0
    assert list(summary["by_level"]) == ["1", "2", "3"]
    assert summary["latency_ms"]["p50"] is not None and summary["throughput_per_s"] > 0
    # the text summary a person reads goes to stderr beside the JSON
    assert "accuracy: 33.3% (1/3 attempted); 25.0% of all 4" in run.stderr
    assert "errors: 1 (model_rejected 1)" in run.stderr


def test_a_rerun_skips_the_ids_already_in_the_results(service: Proc, eval_cli: EvalCli, tmp_path: Path):
    data = write_jsonl(tmp_path / "set.jsonl", SET[1:])
    out = tmp_path / "results.jsonl"
    done = {"id": "squares", "answer": "385", "correct": True, "error": None, "latency_ms": 5.0}
    failed = {
        "id": "boxed",
        "correct": False,
        "error": {"kind": "model_timeout", "message": "", "status": 504},
    }
    # a run killed mid-write: two whole records, then half of the next line
    out.write_text(json.dumps(done) + "\n" + json.dumps(failed) + '\n{"id": "roots", "answ', encoding="utf-8")
    run = eval_cli([str(data), "--out", str(out), "--service", service.url])
    assert run.returncode == 1, run.stderr  # the earlier error still counts
    assert "skipping 2 already in" in run.stderr and "dropped a partial last line" in run.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["squares", "boxed", "roots"]
    assert json.loads(lines[0]) == done  # kept, not solved again
    assert "1 solved now, 2 skipped" in run.stdout and "errors: 1 (model_timeout 1)" in run.stdout

    again = eval_cli([str(data), "--out", str(out), "--service", service.url, "--retry-errors"])
    assert again.returncode == 0, again.stderr
    assert "skipping 2 already in" in again.stderr and "1 solved now" in again.stdout
    results = read_results(out)  # the later line of an id wins
    assert len(out.read_text(encoding="utf-8").splitlines()) == 4 and results["boxed"]["error"] is None
    assert "accuracy: 33.3% (1/3 attempted)" in again.stdout and "errors: 0" in again.stdout


def test_an_overloaded_service_is_retried_after_its_retry_after(
    start_replay: StartReplay, start_service: StartService, eval_cli: EvalCli, tmp_path: Path
):
    # one solve at a time, none waiting: the second of two problems sent together gets 429 + Retry-After
    replay = start_replay(extra=["--latency-ms", "300"])
    service = start_service(replay.url, max_active_solves=1, max_queued_solves=0)
    data, out = write_jsonl(tmp_path / "set.jsonl", SET[1:3]), tmp_path / "results.jsonl"
    args = ["--out", str(out), "--service", service.url, "--concurrency", "2", "--retries", "5"]
    run = eval_cli([str(data), *args])
    assert run.returncode == 0, run.stderr + run.stdout
    results = read_results(out)
    assert results["squares"]["correct"] is True and results["roots"]["answer"] == "11"
    assert max(r["attempts"] for r in results.values()) >= 2


def test_an_unreachable_service_stops_the_run_before_it_starts(tmp_path: Path):
    from app.processes import free_port

    data, out = write_jsonl(tmp_path / "set.jsonl", SET[1:2]), tmp_path / "results.jsonl"
    run = run_eval([str(data), "--out", str(out), "--service", f"http://127.0.0.1:{free_port()}"])
    assert run.returncode == 2 and "does not answer" in run.stderr and "Traceback" not in run.stderr
    assert not out.exists()
