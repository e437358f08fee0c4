"""Landlock confines a child's files where the filesystem view cannot be built.

Docker's default AppArmor profile refuses mounts, and a server without CAP_SYS_ADMIN has no mount
namespace: there, without Landlock, a run could read any world-readable host file and leave files in
/tmp, /dev/shm or /var/tmp for the next run. These tests start servers without the view (as the probe
would find it there) and check what Landlock holds, and that the server refuses to start when neither
confines a child's files.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sandbox_helpers import LANDLOCK_ABI, PROJECT_ROOT

from sandbox import Sandbox, SandboxRefused

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(not LANDLOCK_ABI, reason="this kernel has no Landlock"),
]

NO_VIEW = ("--simulate-missing", "filesystem_view")
# What docker/docker-compose.yml grants the sandbox service: no CAP_DAC_OVERRIDE or CAP_FOWNER.
COMPOSE_CAPS = (
    "setpriv",
    "--bounding-set",
    "-all,+setuid,+setgid,+sys_admin,+kill,+chown",
    "--inh-caps",
    "-all",
)
# A work directory as code may leave it: deeper than Python recurses, a directory nobody may read, a
# symlink to a directory outside.
DEEP_AND_LOCKED = (
    "import os\nprint(os.getcwd().encode().hex())\n"  # hex: what a run returns has host paths removed
    "os.mkdir('locked')\nopen('locked/data', 'w').write('tenant A')\nos.chmod('locked', 0)\n"
    "os.symlink('/usr', 'usr')\n"
    "for _ in range(2000):\n    os.mkdir('d')\n    os.chdir('d')\nopen('bottom', 'w').write('b')\n"
)
NO_LANDLOCK = ("--simulate-missing", "landlock")
SHARED_DIRS = ("/tmp", "/dev/shm", "/var/tmp")


@pytest.fixture(scope="module")
async def no_view(secret_in_environment) -> AsyncIterator[Sandbox]:
    async with Sandbox(pool_size=1, timeout=5.0, server_args=NO_VIEW) as sb:
        yield sb


@pytest.fixture(scope="module")
def readable_host_file() -> Iterator[Path]:
    # World-readable, outside every directory a child may read: Landlock alone keeps it out of reach.
    with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
        os.chmod(d, 0o755)
        path = Path(d) / "notes.txt"
        path.write_text("host data")
        path.chmod(0o644)
        yield path


def _read(path: Path | str) -> str:
    return f"print(open({str(path)!r}).read())"


async def test_without_the_view_the_server_still_serves_safely(no_view: Sandbox) -> None:
    report = await no_view.probe()
    assert report["safe"] is True, report["missing_required"]
    assert not report["layers"]["mount_namespace"]["active"]
    assert report["layers"]["landlock"]["active"] is True
    assert report["layers"]["filesystem"]["status"] == "ok (landlock)"


async def test_runs_cannot_leave_files_in_shared_directories(no_view: Sandbox) -> None:
    code = (
        "import os\nfor d in " + repr(SHARED_DIRS) + ":\n"
        "    try:\n        open(f'{d}/left-{os.getuid()}', 'w').write('x')\n        print('wrote', d)\n"
        "    except OSError as exc:\n        print(d, exc.strerror)"
    )
    result = await no_view.run(code)
    assert result.stdout.splitlines() == [f"{d} Permission denied" for d in SHARED_DIRS], result
    for d in SHARED_DIRS:
        assert not [name for name in os.listdir(d) if name.startswith("left-6")]


async def test_the_work_directory_is_writable_and_emptied_between_runs(no_view: Sandbox) -> None:
    first = await no_view.run("open('note.txt', 'w').write('hello')\nimport os\nprint(os.listdir('.'))")
    assert first.stdout == "['note.txt']\n", first
    second = await no_view.run("import os\nprint(os.listdir('.'))")
    assert second.stdout == "[]\n", second


async def test_host_files_outside_the_allowed_directories_are_unreadable(
    no_view: Sandbox, readable_host_file: Path
) -> None:
    for path in (readable_host_file, PROJECT_ROOT / "README.md", "/etc/passwd", "/proc/1/cmdline"):
        result = await no_view.run(_read(path))
        assert result.status == "error" and "PermissionError" in result.error, (path, result)
    listing = await no_view.run("import os\nprint(os.listdir('/var/tmp'))")
    assert "PermissionError" in listing.error, listing


async def test_what_code_needs_stays_readable(no_view: Sandbox) -> None:
    # (A lazy import from site-packages: not preloaded. The stdlib of a pyenv below /root, mode 0700,
    # stays out of reach without the view whatever Landlock allows: that is file permissions.)
    code = (
        "import time\nfrom sympy.crypto import encipher_shift\n"
        "print(open('/proc/self/status').read().splitlines()[0])\n"
        "print(len(open('/dev/urandom', 'rb').read(4)), time.localtime().tm_year > 2000)\n"
        "from sympy import symbols, solve\nx = symbols('x')\n"
        "print(solve(x**2 - 4, x), encipher_shift('ABC', 1))"
    )
    result = await no_view.run(code)
    assert result.ok, result
    assert result.stdout.splitlines()[1:] == ["4 True", "[-2, 2] BCD"]
    assert result.stdout.startswith("Name:")


async def test_landlock_is_what_blocks_the_read(secret_in_environment, readable_host_file: Path) -> None:
    # Control: the same server without Landlock reads the file (so the test above can fail).
    async with Sandbox(pool_size=1, allow_insecure=True, server_args=NO_VIEW + NO_LANDLOCK) as sb:
        result = await sb.run(_read(readable_host_file))
        assert result.stdout == "host data\n", result
        report = await sb.probe()
        assert report["missing_required"] == ["filesystem"]


async def test_neither_view_nor_landlock_refuses_to_start(secret_in_environment) -> None:
    with pytest.raises(SandboxRefused, match="filesystem: unavailable: neither mount_namespace nor landlock"):
        async with Sandbox(pool_size=1, server_args=NO_VIEW + NO_LANDLOCK):
            pass


# Docker's default AppArmor profile refuses mount(2) (and its seccomp profile pivot_root) even with
# CAP_SYS_ADMIN: the same refusal, made by a seccomp filter around the real server.
MOUNTS_REFUSED = (
    "import errno, os, sys, pyseccomp as sc\n"
    "f = sc.SyscallFilter(sc.ALLOW)\n"
    "f.add_rule(sc.ERRNO(errno.EACCES), 'mount')\nf.add_rule(sc.ERRNO(errno.EPERM), 'pivot_root')\n"
    "f.load()\nos.execv(sys.executable, [sys.executable, '-m', 'sandbox', *sys.argv[1:]])"
)


def _sandbox_where_mounts_are_refused(*args: str, stdin: str = "", prefix: tuple[str, ...] = ()) -> dict:
    done = subprocess.run(
        [*prefix, sys.executable, "-c", MOUNTS_REFUSED, *args],
        cwd=PROJECT_ROOT,
        env={"LANG": "C.UTF-8"},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return json.loads(done.stdout)


async def test_where_mounts_are_refused_landlock_stands_in() -> None:
    report = await asyncio.to_thread(_sandbox_where_mounts_are_refused, "probe")
    layers = report["layers"]
    assert report["safe"] is True, report["missing_required"]
    assert layers["network_namespace"]["active"] is True  # the unshare itself is allowed
    assert "Permission denied" in layers["filesystem_view"]["status"], layers["filesystem_view"]
    assert layers["landlock"]["active"] is True and layers["filesystem"]["status"] == "ok (landlock)"
    code = "import os\ntry:\n    open('/tmp/left-behind', 'w')\nexcept PermissionError:\n    print('refused')"
    result = await asyncio.to_thread(_sandbox_where_mounts_are_refused, "run", "-", stdin=code)
    assert result["stdout"] == "refused\n", result
    assert "left-behind" not in os.listdir("/tmp")


async def test_a_deep_or_locked_work_directory_is_emptied_for_the_next_run(no_view: Sandbox) -> None:
    # shutil.rmtree recursed (RecursionError past ~1000 levels): the directory stayed full for the next
    # run of that uid, and the uid never came back to the pool.
    result = await no_view.run(DEEP_AND_LOCKED)
    assert result.ok, result
    workdir = Path(bytes.fromhex(result.stdout.strip()).decode())
    for _ in range(100):  # emptied in the background once the child is gone
        if not os.listdir(workdir):
            break
        await asyncio.sleep(0.1)
    assert os.listdir(workdir) == []


async def test_a_dead_servers_deep_work_root_does_not_stop_the_next_server(secret_in_environment) -> None:
    dead = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await dead.wait()
    orphan = Path(tempfile.gettempdir()) / f"sandbox-work-{dead.pid}-deep"
    _deep_tree(orphan / "61000", 2000)
    try:
        async with Sandbox(pool_size=1, server_args=NO_VIEW) as sb:  # removes the orphan as it starts
            assert (await sb.run("print(1)")).stdout == "1\n"
        assert not orphan.exists()
    finally:
        await asyncio.to_thread(subprocess.run, ["rm", "-rf", str(orphan)])


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) not installed")
async def test_with_compose_capabilities_and_no_mounts_the_server_serves_and_cleans_up() -> None:
    # Compose grants no CAP_DAC_OVERRIDE: as root the server could not even enter a child's 0700 work
    # directory (so it never started); as the directory's owner it empties it, whatever the code left.
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "sandbox-work-*")))
    result = await asyncio.to_thread(
        _sandbox_where_mounts_are_refused, "run", "-", stdin=DEEP_AND_LOCKED, prefix=COMPOSE_CAPS
    )
    assert result["status"] == "ok", result
    left = set(glob.glob(os.path.join(tempfile.gettempdir(), "sandbox-work-*"))) - before
    assert [
        path for path in left if not _alive(int(os.path.basename(path).split("-")[2]))
    ] == []  # its exited server's


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _deep_tree(top: Path, depth: int) -> None:
    top.mkdir(parents=True)
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)
