"""A server started by an ordinary user: a user namespace instead of a uid per child.

The server runs as uid 65534 (``setpriv``), with an interpreter that user can execute and a copy of the
packages it needs in a world-readable directory (this checkout may sit below a 0700 home). It must
still serve safely: namespaces and the filesystem view from its own user namespace, children without
capabilities, unable to touch the server, each other or the host. Skipped where no Python 3.11 is
usable by that uid or the kernel refuses unprivileged user namespaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sympy
from sandbox_helpers import LANDLOCK_ABI

from sandbox import Sandbox

pytestmark = pytest.mark.asyncio(loop_scope="session")

NOBODY = 65534
AS_NOBODY = ["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups"]
PACKAGES = Path(sympy.__file__).parent.parent  # site-packages of this environment
NEEDED = ("sympy", "numpy", "numpy.libs", "mpmath", "pyseccomp.py")
SANDBOX = Path(__file__).resolve().parents[2] / "sandbox"


def _interpreter_for_nobody() -> str | None:
    candidates = [os.path.realpath(sys.executable), "/usr/bin/python3.11", "/usr/local/bin/python3.11"]
    for candidate in dict.fromkeys(candidates):
        if shutil.which("setpriv") is None or not os.path.exists(candidate):
            continue
        check = "import sys; assert sys.version_info[:2] == (3, 11)"
        done = subprocess.run(
            [*AS_NOBODY, "env", "-i", candidate, "-c", check], capture_output=True, timeout=30
        )
        if done.returncode == 0:
            return candidate
    return None


@pytest.fixture(scope="module")
def unprivileged_install() -> Iterator[tuple[str, Path]]:
    """(interpreter, directory) with the sandbox and its packages readable by uid 65534."""
    if os.geteuid() != 0:
        pytest.skip("needs root to start a server as another user")
    python = _interpreter_for_nobody()
    if python is None:
        pytest.skip("no Python 3.11 that uid 65534 can run")
    with tempfile.TemporaryDirectory(prefix="sandbox-userns-") as d:
        root = Path(d)
        root.chmod(0o755)
        for name in NEEDED:
            src = PACKAGES / name
            if not src.exists():  # numpy.libs exists only for manylinux wheels
                continue
            copy = shutil.copytree if src.is_dir() else shutil.copy2
            copy(src, root / name)
        shutil.copytree(SANDBOX, root / "sandbox", ignore=shutil.ignore_patterns("__pycache__"))
        run = root / "run"
        run.mkdir()
        os.chown(run, NOBODY, NOBODY)
        yield python, root


@contextlib.asynccontextmanager
async def serve_as_nobody(
    install: tuple[str, Path], name: str, *args: str
) -> AsyncIterator[tuple[Sandbox, dict]]:
    """A server run as uid 65534 on ``run/<name>.sock``, its client, and its ready message."""
    python, root = install
    sock = root / "run" / f"{name}.sock"
    env = ["env", "-i", "LANG=C.UTF-8", f"PYTHONPATH={root}"]
    serve = [python, "-m", "sandbox", "serve", "--socket", str(sock), "--workers", "2", *args]
    proc = subprocess.Popen([*AS_NOBODY, *env, *serve], cwd=root, stdout=subprocess.PIPE, text=True)  # noqa: ASYNC220
    try:
        ready = json.loads(await asyncio.to_thread(proc.stdout.readline) or "{}")
        if not ready.get("ready"):
            notes = ready.get("report", {}).get("notes", [])
            if any("no user namespace" in note for note in notes):
                pytest.skip(f"unprivileged user namespaces refused here: {notes}")
            pytest.fail(f"server as uid {NOBODY} did not start: {ready}")
        async with Sandbox(str(sock), timeout=5.0) as sb:
            yield sb, ready
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 15)


@pytest.fixture(scope="module")
async def nobody_server(unprivileged_install) -> AsyncIterator[tuple[Sandbox, dict]]:
    async with serve_as_nobody(unprivileged_install, "sandbox") as server:
        yield server


async def test_serves_safely_from_a_user_namespace(nobody_server) -> None:
    _, ready = nobody_server
    report = ready["report"]
    assert report["safe"] is True, report["missing_required"]
    layers = {name: layer["active"] for name, layer in report["layers"].items()}
    expected = ("uid", "seccomp", "network_namespace", "filesystem_view", "mount_namespace")
    for name in expected + (("landlock",) if LANDLOCK_ABI else ()):
        assert layers[name] is True, (name, report["layers"][name])
    assert any("user namespace" in note for note in report["notes"]), report["notes"]


async def test_children_hold_no_capabilities(nobody_server) -> None:
    sb, _ = nobody_server
    code = (
        "import os\nsets = {l.split(':')[0]: int(l.split()[1], 16) for l in open('/proc/self/status')"
        " if l.startswith('Cap')}\nprint(os.getuid(), sets)"
    )
    result = await sb.run(code)
    assert result.ok, result
    uid, sets = result.stdout.split(" ", 1)
    assert int(uid) == NOBODY
    assert sets.strip() == "{'CapInh': 0, 'CapPrm': 0, 'CapEff': 0, 'CapBnd': 0, 'CapAmb': 0}"


async def test_the_server_is_out_of_reach(nobody_server) -> None:
    sb, ready = nobody_server
    server = ready["pid"]
    for code in (
        f"import os, signal\nos.kill({server}, signal.SIGKILL)",
        f"print(open('/proc/{server}/environ').read())",
        f"import ctypes\nassert ctypes.CDLL(None).ptrace(16, {server}, 0, 0) == 0",  # PTRACE_ATTACH
    ):
        result = await sb.run(code)
        assert result.status == "error", (code, result)
        assert "PermissionError" in result.error or "AssertionError" in result.error, result
    assert (await sb.ping())["ok"] is True  # still serving


async def test_the_servers_limits_are_out_of_reach(nobody_server) -> None:
    # Same uid, so the kernel would let a child lower the server's RLIMIT_CPU (SIGXCPU ends it) or
    # RLIMIT_NOFILE (no more connections); only the caller's own limits may change.
    sb, ready = nobody_server
    limits = Path(f"/proc/{ready['pid']}/limits")
    before = await asyncio.to_thread(limits.read_text)
    for target in (ready["pid"], (await sb.ping())["zygote_pid"]):
        code = f"import resource\nresource.prlimit({target}, resource.RLIMIT_CORE, (0, 0))"
        result = await sb.run(code)
        assert result.status == "error" and "PermissionError" in result.error, result
    assert await asyncio.to_thread(limits.read_text) == before
    assert (await sb.run("print(6 * 7)")).stdout == "42\n"


async def test_runs_share_no_files(nobody_server) -> None:
    sb, _ = nobody_server
    code = (
        "import os\nopen(f'/tmp/mark-{{}}', 'w').write('x')\n"
        "print(sorted(n for n in os.listdir('/tmp') if n.startswith('mark-')))"
    )
    results = await asyncio.gather(*(sb.run(code.replace("{{}}", str(i))) for i in range(6)))
    assert [r.stdout for r in results] == [f"['mark-{i}']\n" for i in range(6)]
    for path in ("/dev/shm/left", "/var/tmp/left", "/left"):  # absent from the view, or read-only
        error = (await sb.run(f"open({path!r}, 'w')")).error
        assert any(e in error for e in ("PermissionError", "FileNotFoundError", "Read-only file system")), (
            error
        )


async def test_no_network_and_no_processes(nobody_server) -> None:
    sb, _ = nobody_server
    for code in ("import socket\nsocket.create_connection(('127.0.0.1', 9))", "import os\nos.fork()"):
        result = await sb.run(code)
        assert result.status == "error" and "PermissionError" in result.error, result


async def test_math_and_lazy_stdlib_imports_work(nobody_server) -> None:
    sb, _ = nobody_server
    code = (
        "import sqlite3, zoneinfo\nfrom sympy import symbols, solve\nimport numpy as np\nx = symbols('x')\n"
        "print(solve(x**2 - 5*x + 6, x), np.linalg.det(np.eye(3)))"
    )
    result = await sb.run(code)
    assert result.ok, result
    assert result.stdout == "[2, 3] 1.0\n"


async def test_threads_work_while_other_children_run(nobody_server) -> None:
    # Every child shares the server's uid, and RLIMIT_NPROC counts the tasks of a uid in the namespace.
    sb, _ = nobody_server
    code = (
        "from concurrent.futures import ThreadPoolExecutor\n"
        "with ThreadPoolExecutor(8) as ex:\n    print(sum(ex.map(lambda v: v * v, range(100))))"
    )
    results = await asyncio.gather(*(sb.run(code) for _ in range(6)))
    assert [r.stdout for r in results] == ["328350\n"] * 6, [r.error[-200:] for r in results]


async def test_sigio_cannot_be_aimed_at_a_process_of_the_servers_uid(unprivileged_install) -> None:
    # Same uid, so the kernel would let a child name any process of that uid as owner of its control
    # socket (FIOSETOWN, SIOCSPGRP): once the socket is ready the kernel sends the owner SIGIO, whose
    # default action ends it: the server (which ignores SIGIO too) or the API that started it. Landlock
    # 6+ stops the signal; without it seccomp refuses naming an owner, whatever the upper bits of the
    # request. (F_SETOWN and F_SETSIG are refused as well.)
    bystander = subprocess.Popen([*AS_NOBODY, "sleep", "60"])  # noqa: ASYNC220 - of that uid, unsandboxed
    try:
        async with serve_as_nobody(unprivileged_install, "sigio", "--simulate-missing", "landlock") as (
            sb,
            ready,
        ):
            code = (
                "import ctypes, os, struct, time\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                f"for target in ({ready['pid']}, {bystander.pid}):\n"
                "    owner = ctypes.byref(ctypes.c_int(target))\n"
                "    for request in (0x8901, 0x8902, 0x8901 | 1 << 32):\n"  # FIOSETOWN, SIOCSPGRP
                "        print(libc.ioctl(3, ctypes.c_ulong(request), owner), ctypes.get_errno())\n"
                "assert libc.ioctl(3, 0x5452, ctypes.byref(ctypes.c_int(1))) == 0\n"  # FIOASYNC
                "os.set_blocking(3, False)\nos.write(3, struct.pack('>I', 1000000))\nsent = 0\n"
                "while sent < 990000:\n    try:\n        sent += os.write(3, b'x' * 65536)\n"
                "    except BlockingIOError:\n        time.sleep(0.01)\n"
            )
            result = await sb.run(code, timeout=10)
            assert result.stdout == "-1 1\n" * 6, result
            assert result.status == "killed", result  # its garbled reply ended the run, not the server
            await asyncio.sleep(0.3)
            assert bystander.poll() is None
            assert (await sb.ping())["ok"] is True
            assert (await sb.run("print(6 * 7)")).stdout == "42\n"
    finally:
        bystander.kill()
        bystander.wait()
