"""app.grading's public names load on first use, so commands that do not check answers start fast."""

from __future__ import annotations

import subprocess
import sys

import app.grading


def test_every_public_name_resolves_to_what_its_module_defines():
    assert set(app.grading._MODULES) == set(app.grading.__all__)
    for name in app.grading.__all__:
        value = getattr(app.grading, name)
        module = sys.modules[f"app.grading.{app.grading._MODULES[name]}"]
        assert value is getattr(module, name), name


def test_the_command_line_and_the_replay_server_start_without_sympy():
    # `import app.grading.cli` ran the package's eager imports: 1.6 s of sympy for `tirsolve --help`;
    # app.tir's voting imported sympy for every replay server a test starts
    code = (
        "import sys, app.cli, app.grading.models, app.tir.replay_server\n"
        "print([m for m in ('sympy', 'math_verify') if m in sys.modules])"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
