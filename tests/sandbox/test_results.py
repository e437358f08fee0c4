"""What a run returns: separate streams, truncation, scrubbed tracebacks, the CLI, limits validation."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from sandbox_helpers import PROJECT_ROOT

from sandbox import Limits, RunResult, Sandbox
from sandbox.capture import marker
from sandbox.paths import PathScrubber

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_stdout_and_stderr_are_captured_separately(sandbox: Sandbox) -> None:
    code = "import sys, warnings\nprint('out')\nprint('err', file=sys.stderr)\nprint('π ≈ 3.14')"
    result = await sandbox.run(code)
    assert result.status == "ok" and result.error == "" and not result.truncated
    assert result.stdout == "out\nπ ≈ 3.14\n" and result.stderr == "err\n"
    assert result.duration_ms > 0


async def test_expressions_are_not_echoed(sandbox: Sandbox) -> None:
    # Like the ToRA and Qwen2.5-Math executors: only what the code prints.
    assert (await sandbox.run("1 + 1\nx = 3\nx")).stdout == ""


@pytest.mark.parametrize(
    "replacement",
    ["None", "open('/dev/null', 'w')", "type('Broken', (), {'write': len, 'flush': lambda self: 1 / 0})()"],
)
async def test_code_that_replaces_sys_stdout_still_gets_a_result(sandbox: Sandbox, replacement: str) -> None:
    # The unfinished line printed before the swap is still delivered; the child's own report is unharmed.
    code = f"import sys\nprint('kept', end='')\nsys.stdout = {replacement}\nprint('lost')\nsys.stderr = None"
    result = await sandbox.run(code)
    assert (result.status, result.stdout, result.error) == ("ok", "kept", ""), result
    async with sandbox.session() as session:  # in a session the next block still runs and reports
        await session.run(code)
        after = await session.run("sys.stdout = sys.__stdout__\nprint(6 * 7)")
        assert after.status == "ok", after


async def test_error_keeps_stdout_and_gives_a_full_traceback(sandbox: Sandbox) -> None:
    code = "print('before')\ndef f(xs):\n    return xs[5]\nf([1, 2])"
    result = await sandbox.run(code)
    assert result.status == "error" and result.stdout == "before\n"
    assert result.error.startswith("Traceback (most recent call last):")
    assert 'File "<cell>", line 4, in <module>' in result.error
    assert 'File "<cell>", line 3, in f' in result.error and "return xs[5]" in result.error
    assert result.error.rstrip().endswith("IndexError: list index out of range")
    assert "sandbox/child.py" not in result.error


async def test_every_field_encodes_as_utf8(sandbox: Sandbox) -> None:
    # A lone surrogate in an exception message (or a SystemExit's) would make the caller's
    # prompt or HTTP response fail to encode; invalid bytes written to the streams too.
    code = "import os\nos.write(1, b'\\xff\\xfe ok')\nraise ValueError('bad \\udcff')"
    result = await sandbox.run(code)
    assert result.status == "error" and result.error.rstrip().endswith("ValueError: bad \\udcff"), result
    assert result.stdout == "\ufffd\ufffd ok"
    exited = await sandbox.run("import sys\nsys.exit('\\ud800')")
    assert exited.status == "error" and exited.error == "SystemExit: \\ud800", exited
    for field in (result.stdout, result.error, exited.error):
        field.encode("utf-8")


async def test_syntax_error_is_reported(sandbox: Sandbox) -> None:
    result = await sandbox.run("x = (1,\nprint(x)")
    assert result.status == "error" and "SyntaxError" in result.error and '"<cell>"' in result.error


async def test_stderr_flood_is_truncated_too(tight_sandbox: Sandbox) -> None:
    result = await tight_sandbox.run("import sys\nsys.stderr.write('e' * 20000)\nprint('fine')")
    assert result.status == "ok" and result.truncated
    assert result.stdout == "fine\n"
    assert marker(20000 - 4096) in result.stderr
    assert result.stderr.startswith("e" * 2048) and result.stderr.endswith("e" * 2048)


async def test_result_round_trips_through_a_dict() -> None:
    result = RunResult("timeout", "a", "b", "TimeoutError", True, 12.5)
    data = result.to_dict()
    assert set(data) == {"status", "stdout", "stderr", "error", "truncated", "duration_ms"}
    assert RunResult.from_dict(data) == result
    with pytest.raises(ValueError, match="unknown status"):
        RunResult.from_dict({**data, "status": "fine"})


async def test_limits_are_validated() -> None:
    with pytest.raises(TypeError, match="unknown sandbox limit"):
        Limits.from_kwargs(memroy_mb=10)
    with pytest.raises(ValueError, match="memory_mb must be a positive number"):
        Limits(memory_mb=0)
    assert Limits(cpu_seconds=3).to_cli_args() == ["--cpu-seconds", "3"]


async def test_scrubber_rewrites_host_paths() -> None:
    scrubber = PathScrubber(
        ("/opt/venv/lib/python3.11/site-packages",), ("/usr/lib/python3.11",), ("/srv/app",)
    )
    text = (
        'File "/opt/venv/lib/python3.11/site-packages/sympy/core/sympify.py", line 3\n'
        'File "/usr/lib/python3.11/ast.py", line 50\n'
        "No such file: /srv/app/secret.txt"
    )
    assert scrubber.scrub(text).splitlines() == [
        'File "<sympy>/core/sympify.py", line 3',
        'File "<stdlib>/ast.py", line 50',
        "No such file: <host>/secret.txt",
    ]


def run_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *args],
        cwd=PROJECT_ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_cli_run_prints_the_result_as_json(tmp_path) -> None:
    proc = await asyncio.to_thread(run_cli, "run", "-", stdin="from sympy import *\nprint(factorint(360))")
    result = json.loads(proc.stdout)
    assert proc.returncode == 0 and result["status"] == "ok" and result["stdout"] == "{2: 3, 3: 2, 5: 1}\n"
    script = tmp_path / "bad.py"
    script.write_text("1 / 0")
    proc = await asyncio.to_thread(run_cli, "run", str(script))
    assert proc.returncode == 1 and "ZeroDivisionError" in json.loads(proc.stdout)["error"]


async def test_cli_run_names_a_file_it_cannot_read_in_one_line(tmp_path) -> None:
    # were a FileNotFoundError and a UnicodeDecodeError traceback
    latin1 = tmp_path / "latin1.py"
    latin1.write_bytes(b"print('caf\xe9')")
    for path, cause in ((tmp_path / "missing.py", "No such file"), (latin1, "can't decode")):
        proc = await asyncio.to_thread(run_cli, "run", str(path))
        assert proc.returncode == 2 and proc.stdout == ""
        assert cause in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("seconds", ["nan", "-1", "1e9"])
async def test_cli_run_refuses_a_bad_timeout_with_a_message(seconds: str) -> None:
    proc = await asyncio.to_thread(run_cli, "run", "-", f"--timeout={seconds}", stdin="print(1)")
    assert proc.returncode == 2 and proc.stdout == ""
    assert "field 'timeout' must be a number of seconds" in proc.stderr and "Traceback" not in proc.stderr
