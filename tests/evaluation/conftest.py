"""Helpers for the `tirsolve eval` tests: datasets written to tmp_path; the command run in this process
(`eval_cli`: its checker workers fork from this process's warm forkserver, seconds faster per run) or as a
process of its own (`run_eval`: exit codes and messages exactly as a shell sees them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from app.config import get_settings
from tests.conftest import ROOT

SQUARES = "What is the sum of the squares of the first 10 positive integers?"  # the model says 385
ROOTS = "Solve x^2 - 5x + 6 = 0 and report the product of the roots plus their sum."  # the model says 11
BOXED_IN_OUTPUT = "Print a boxed number for me, please."  # the only \boxed{} is in an output block
UNKNOWN = "What is the capital of France?"  # no recorded trajectory: the replay server answers 404


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def read_results(path: Path) -> dict[str, dict[str, Any]]:
    return {str(r["id"]): r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def run_eval(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`tirsolve eval ARGS` as a process (no progress bar); our TIRSOLVE_* settings only."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TIRSOLVE_")} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "eval", "--no-progress", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


EvalCli = Callable[..., Ran]


@pytest.fixture
def eval_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[EvalCli]:
    """`tirsolve eval ARGS` in this process with our TIRSOLVE_* settings only (`env`)."""
    for name in [k for k in os.environ if k.startswith("TIRSOLVE_")]:
        monkeypatch.delenv(name)

    def run(args: list[str], env: dict[str, str] | None = None) -> Ran:
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        capsys.readouterr()
        returncode = main(["eval", "--no-progress", *args])
        out, err = capsys.readouterr()
        return Ran(returncode, out, err)

    yield run
    get_settings.cache_clear()
