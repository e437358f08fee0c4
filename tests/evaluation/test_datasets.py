"""Reading evaluation sets: the MATH-500 and GSM8K shapes detected, and bad lines named, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.evaluation import DatasetError, read_dataset
from tests.conftest import SHARED_DATA, Proc, StartReplay
from tests.evaluation.conftest import SQUARES, EvalCli, read_results, run_eval, write_jsonl

PROBLEMS = SHARED_DATA / "problems"


def first_lines(name: str, n: int, tmp_path: Path) -> Path:
    """The first `n` lines of a shared data set, copied to tmp_path (the project ships no copy)."""
    with (PROBLEMS / name).open(encoding="utf-8") as f:
        lines = [next(f) for _ in range(n)]
    path = tmp_path / name
    path.write_text("".join(lines), encoding="utf-8")
    return path


def test_math500_records_keep_their_ids_subjects_and_levels(tmp_path: Path):
    items, fields = read_dataset(first_lines("math500.jsonl", 3, tmp_path))
    assert fields.shape == "MATH-500" and (fields.problem, fields.answer, fields.id) == (
        "problem",
        "answer",
        "unique_id",
    )
    first = items[0]
    assert first.id == "test/precalculus/807.json" and first.subject == "Precalculus" and first.level == "2"
    assert first.reference == "\\left( 3, \\frac{\\pi}{2} \\right)" and first.problem.startswith("Convert")


def test_gsm8k_records_take_the_number_after_the_hashes_and_their_line_as_id(tmp_path: Path):
    path = first_lines("gsm8k_test.jsonl", 3, tmp_path)
    with path.open("a", encoding="utf-8") as f:  # a blank line keeps the numbering of the lines after it
        f.write("\n" + json.dumps({"question": "How many?", "answer": "So 1,000 + 234 = 1,234\n#### 1,234"}))
    items, fields = read_dataset(path)
    assert fields.shape == "GSM8K" and fields.id is None
    assert [i.id for i in items] == ["1", "2", "3", "5"]
    assert items[0].reference == "18" and items[0].problem.startswith("Janet")
    assert items[3].reference == "1234"  # GSM8K's digit groups, not a list


def test_plain_records_and_flags_that_name_other_fields(tmp_path: Path):
    plain = write_jsonl(tmp_path / "plain.jsonl", [{"id": 7, "problem": "2+2?", "answer": 4}])
    items, fields = read_dataset(plain)
    assert fields.shape == "plain" and items[0].id == "7" and items[0].reference == "4"
    odd = write_jsonl(tmp_path / "odd.jsonl", [{"key": "a", "q": "2+2?", "gold": "4", "answer": "x"}])
    items, _ = read_dataset(odd, problem_field="q", answer_field="gold", id_field="key")
    assert (items[0].id, items[0].problem, items[0].reference) == ("a", "2+2?", "4")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"id": 1, "problem": "p", "answer": "1"}', "{not json"], "line 2: not valid JSON"),
        (
            ['{"id": 1, "problem": "p", "answer": "1"}', '["a list"]'],
            "line 2: a record must be a JSON object",
        ),
        (
            ['{"id": 1, "problem": "p", "answer": "1"}', '{"id": 2, "problem": "q"}'],
            "line 2: no 'answer' field",
        ),
        (
            ['{"id": 1, "problem": "p", "answer": "1"}', '{"id": 1, "problem": "q", "answer": "2"}'],
            "line 2: id '1' is already on line 1",
        ),
        (['{"id": 1, "problem": "  ", "answer": "1"}'], "line 1: 'problem' must be non-empty text"),
        (
            ['{"id": 1, "text": "p", "answer": "1"}'],
            "line 1: no problem field (fields: answer, id, text); name it with --problem-field",
        ),
        ([], "no records"),
    ],
)
def test_a_bad_line_is_an_error_naming_it(tmp_path: Path, lines: list[str], message: str):
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    with pytest.raises(DatasetError) as err:
        read_dataset(path)
    assert str(err.value).startswith(f"{path}: {message}")


def test_the_command_names_the_bad_line_and_solves_nothing(tmp_path: Path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        b'{"id": 1, "problem": "p", "answer": "1"}\n{"id": 2, "problem": "\xff", "answer": "2"}\n'
    )
    out = tmp_path / "results.jsonl"
    run = run_eval([str(path), "--out", str(out)])
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert (
        run.stderr.strip()
        == f"error: {path}: line 2: not UTF-8 text (invalid start byte at byte 22 of the line)"
    )
    assert not out.exists()


def test_a_results_file_of_something_else_is_refused(eval_cli: EvalCli, tmp_path: Path):
    data = write_jsonl(tmp_path / "set.jsonl", [{"id": 1, "problem": SQUARES, "answer": "385"}])
    out = tmp_path / "results.jsonl"
    out.write_text('{"id": 1}\nnot a result\n{"id": 2}\n', encoding="utf-8")
    run = eval_cli([str(data), "--out", str(out)])
    assert run.returncode == 2 and "line 2 is not a result of `tirsolve eval`" in run.stderr


def test_gsm8k_lines_solved_in_process(
    start_replay: StartReplay, sandbox_socket: str, eval_cli: EvalCli, tmp_path: Path
):
    """The GSM8K shape end to end, with the in-process Solver over ToRA's recorded GSM8K trajectories."""
    replay: Proc = start_replay(SHARED_DATA / "traces" / "tora-code-34b_gsm8k.jsonl")
    data, out = first_lines("gsm8k_test.jsonl", 2, tmp_path), tmp_path / "results.jsonl"
    env = {
        "TIRSOLVE_MODEL_BASE_URL": replay.url,
        "TIRSOLVE_MODEL_NAME": "replay",
        "TIRSOLVE_SANDBOX_SOCKET": sandbox_socket,
    }
    run = eval_cli([str(data), "--out", str(out), "--in-process"], env)
    assert run.returncode == 0, run.stderr
    assert "GSM8K shape" in run.stderr and "ids are line numbers" in run.stderr
    results = read_results(out)
    assert sorted(results) == ["1", "2"] and results["1"]["reference"] == "18"
    assert results["1"]["answer"] == "18" and results["1"]["correct"] is True
    assert "accuracy: 100.0% (2/2 attempted)" in run.stdout
