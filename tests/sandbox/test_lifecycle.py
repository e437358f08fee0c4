"""Server lifecycle and deadlines: crash and restart, external servers, deadlines honoured."""

from __future__ import annotations

import asyncio
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from sandbox_helpers import PROJECT_ROOT, cpu_seconds, uid_processes

from sandbox import Sandbox, SandboxUnavailable
from sandbox.protocol import read_frame, write_frame
from sandbox.tempdirs import MARKER

# One event loop for the module-scoped servers and the tests that use them.
pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_crashed_server_is_restarted(secret_in_environment) -> None:
    async with Sandbox(pool_size=1) as sb:
        assert (await sb.run("print(1)")).stdout == "1\n"
        old_pid = sb.server_pid
        os.kill(old_pid, signal.SIGKILL)
        await asyncio.sleep(0.2)
        result = await sb.run("print(2)")  # never started executing: retried on a new server
        assert result.stdout == "2\n"
        assert sb.server_pid != old_pid and sb.restarts == 1
        # The killed server's leftover mount point (a marker file names its pid) was cleaned up.
        leftovers = glob.glob(f"{tempfile.gettempdir()}/sandbox-root-*/SANDBOX-VIEW-MOUNTPOINT")
        assert not any(f"pid {old_pid};" in Path(p).read_text() for p in leftovers)  # noqa: ASYNC240


async def test_connection_kept_from_a_dead_server_is_not_used(secret_in_environment) -> None:
    async with Sandbox(pool_size=1) as sb:
        assert (await sb.run("print(1)")).stdout == "1\n"  # leaves its connection open for reuse
        old_pid = sb.server_pid
        os.kill(old_pid, signal.SIGKILL)
        while _state(old_pid) not in ("Z", "X", None):  # dead (its sockets closed), not yet reaped
            time.sleep(0.001)  # noqa: ASYNC251 - the event loop must not run before the next call
        result = await sb.run("print(2)")
        assert result.stdout == "2\n", result
        assert sb.server_pid != old_pid and sb.restarts == 1, (old_pid, sb.server_pid, sb.restarts)


async def test_a_closed_sandbox_refuses_runs_instead_of_starting_a_server(secret_in_environment) -> None:
    sb = Sandbox(pool_size=1)
    await sb.start()
    assert (await sb.run("print(1)")).stdout == "1\n"
    await sb.close()
    before = _servers_started_by_us()
    with pytest.raises(SandboxUnavailable, match="closed"):
        await sb.run("print(2)")
    assert sb.server_pid is None and _servers_started_by_us() == before
    await sb.start()  # reopening is allowed
    try:
        assert (await sb.run("print(3)")).stdout == "3\n"
    finally:
        await sb.close()


def _servers_started_by_us() -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ours = b"--parent-pid" in args and args[args.index(b"--parent-pid") + 1] == str(os.getpid()).encode()
        if b"serve" in args and ours:
            found.add(int(entry.name))
    return found


# A caller that gives up with runs in flight: its abandoned runs must end with a clear error, and
# neither the client nor the server it started may print a traceback on the way out.
ABANDON = """
import asyncio, json, sys
sys.path.insert(0, sys.argv[1])
from sandbox import Sandbox

async def main():
    tasks = []
    try:
        async with Sandbox(max_inflight=4, pool_size=2) as sb:
            code = "import time; time.sleep(0.5); print(1)"
            tasks = [asyncio.create_task(sb.run(code, timeout=5)) for _ in range(12)]
            await asyncio.sleep(0.3)
            raise RuntimeError("caller gives up")
    except RuntimeError:
        pass
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps(sorted({type(o).__name__ for o in outcomes})))

asyncio.run(main())
"""


async def test_a_caller_giving_up_mid_run_leaves_no_tracebacks() -> None:
    argv = [sys.executable, "-c", ABANDON, str(PROJECT_ROOT)]
    done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)) <= {"SandboxUnavailable", "RunResult"}, done.stdout
    assert "Traceback" not in done.stderr and "Task was destroyed" not in done.stderr, done.stderr


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


async def test_crash_during_a_run_fails_it_cleanly_then_recovers(secret_in_environment) -> None:
    async with Sandbox(pool_size=1) as sb:
        low, high = (await sb.ping())["uids"]
        running = asyncio.create_task(sb.run("while True:\n    pass", timeout=30))
        await asyncio.sleep(0.5)
        children = {pid for pid, _, _ in uid_processes(low, high)}
        assert children, "the busy child is not running"
        os.kill(sb.server_pid, signal.SIGKILL)
        with pytest.raises(SandboxUnavailable, match="closed the connection"):
            await running
        await asyncio.sleep(0.5)
        # The busy child died with its server (PDEATHSIG). Only its own children count: once the
        # server is gone, another server on this host may claim the freed uid range and fork there.
        assert children & {pid for pid, _, _ in uid_processes(low, high)} == set()
        assert (await sb.run("print(3)")).stdout == "3\n"


async def test_zygote_death_stops_the_server_and_the_client_restarts_it(secret_in_environment) -> None:
    async with Sandbox(pool_size=1) as sb:
        info = await sb.ping()
        os.kill(info["zygote_pid"], signal.SIGKILL)
        await asyncio.sleep(1.5)  # the server notices, kills what is left and exits
        assert (await sb.run("print(5)")).stdout == "5\n"
        assert sb.restarts == 1 and (await sb.ping())["zygote_pid"] != info["zygote_pid"]


async def test_session_on_a_crashed_server_reports_killed(secret_in_environment) -> None:
    async with Sandbox(pool_size=1) as sb, sb.session() as s:
        await s.run("v = 1")
        os.kill(sb.server_pid, signal.SIGKILL)
        await asyncio.sleep(0.2)
        result = await s.run("print(v)")
        assert result.status == "killed" and "SessionDead" in result.error


async def test_processes_are_named_for_ps(sandbox: Sandbox) -> None:
    info = await sandbox.ping()
    assert _comm(info["pid"]) == "sandbox-server"
    assert _comm(info["zygote_pid"]) == "sandbox-zygote"
    result = await sandbox.run("print(open('/proc/self/comm').read().strip())")
    low, high = info["uids"]
    name = result.stdout.strip()
    assert name.startswith("sandbox-") and low <= int(name.removeprefix("sandbox-")) <= high, result


def _comm(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


@pytest.mark.parametrize("deadline", [0.3, 1.0, 2.0])
async def test_run_is_stopped_within_half_a_second_of_its_deadline(sandbox: Sandbox, deadline: float) -> None:
    for code in ("while True:\n    pass", "import time\ntime.sleep(100)"):
        start = time.monotonic()
        result = await sandbox.run(code, timeout=deadline)
        elapsed = time.monotonic() - start
        assert result.status == "timeout"
        assert deadline <= elapsed + 0.05 and elapsed < deadline + 0.5, elapsed


async def test_output_before_a_timeout_is_kept(sandbox: Sandbox) -> None:
    result = await sandbox.run("print('partial')\nimport time\ntime.sleep(100)", timeout=0.5)
    assert result.status == "timeout" and result.stdout == "partial\n"


async def test_client_connects_to_an_external_server(tmp_path) -> None:
    sock = str(tmp_path / "ext.sock")
    proc = subprocess.Popen(  # noqa: ASYNC220 - the external server is not this loop's concern
        [
            sys.executable,
            "-m",
            "sandbox",
            "serve",
            "--socket",
            sock,
            "--workers",
            "1",
            "--socket-uid",
            "12345",
        ],
        cwd=PROJECT_ROOT,
        env={"LANG": "C.UTF-8"},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert '"ready": true' in proc.stdout.readline()
        assert os.stat(sock).st_uid == 12345  # e.g. the API container's uid, mode still 0600
        async with Sandbox(sock) as sb:
            assert (await sb.run("print('external')")).stdout == "external\n"
            assert (await sb.probe())["safe"] is True
            assert (await sb.ping())["pool_size"] == 1
        health = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "sandbox", "probe", "--socket", sock],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
        )
        assert health.returncode == 0 and json.loads(health.stdout)["safe"] is True
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
    assert not Path(sock).exists()  # noqa: ASYNC240 - removed on shutdown


async def test_unreachable_external_server_raises_unavailable(tmp_path) -> None:
    with pytest.raises(SandboxUnavailable, match="cannot connect"):
        async with Sandbox(str(tmp_path / "missing.sock")):
            pass


async def test_view_mount_points_of_dead_servers_are_removed(secret_in_environment) -> None:
    # A server killed outright cannot remove the directory it mounted its view on; the next one does.
    gone = subprocess.Popen(["true"])  # noqa: ASYNC220 - a pid that is surely dead once waited for
    gone.wait()
    stale, live = (
        Path(tempfile.mkdtemp(prefix=f"sandbox-root-{pid}-", dir="/tmp")) for pid in (gone.pid, os.getpid())
    )
    for path, pid in ((stale, gone.pid), (live, os.getpid())):
        (path / MARKER).write_text(
            f"mount point of the filesystem view of sandbox server pid {pid}; do not remove\n"
        )
    try:
        async with Sandbox(pool_size=1) as sb:
            assert (await sb.run("print(1)")).stdout == "1\n"
        assert not stale.exists()
        assert (live / MARKER).exists()  # its owner (this process) is alive
    finally:
        shutil.rmtree(live, ignore_errors=True)
        shutil.rmtree(stale, ignore_errors=True)


@pytest.mark.parametrize("kind", ["sandbox-work", "sandbox-sock"])
async def test_temp_dirs_of_dead_owners_are_removed(secret_in_environment, kind: str) -> None:
    # A killed server leaves its children's work root (made without the view), a killed client its
    # server's socket directory; the next server or client removes them, not those of live owners.
    gone = subprocess.Popen(["true"])  # noqa: ASYNC220 - a pid that is surely dead once waited for
    gone.wait()
    stale = Path(tempfile.mkdtemp(prefix=f"{kind}-{gone.pid}-", dir="/tmp"))
    live = Path(tempfile.mkdtemp(prefix=f"{kind}-{os.getpid()}-", dir="/tmp"))
    (stale / "61000").mkdir()
    (stale / "61000" / "left.txt").write_text("x")
    try:
        async with Sandbox(pool_size=1, server_args=("--simulate-missing", "filesystem_view")) as sb:
            assert (await sb.run("print(1)")).stdout == "1\n"
            left = os.listdir("/tmp")
        assert stale.name not in left
        assert live.name in left
    finally:
        shutil.rmtree(live, ignore_errors=True)
        shutil.rmtree(stale, ignore_errors=True)


@pytest.mark.parametrize("in_session", [False, True])
async def test_a_client_hanging_up_mid_run_kills_its_child(sandbox: Sandbox, in_session: bool) -> None:
    low, high = (await sandbox.ping())["uids"]
    reader, writer = await asyncio.open_unix_connection(sandbox.socket_path)
    if in_session:
        await write_frame(writer, {"op": "session_open"})
        assert (await read_frame(reader))["ok"]
    op = "session_run" if in_session else "run"
    await write_frame(writer, {"op": op, "code": "while True:\n    pass", "timeout": 120})
    busy: list[int] = []
    for _ in range(100):  # the loop shows as the one process of the range that keeps using CPU
        await asyncio.sleep(0.1)
        busy = [pid for pid, _, _ in uid_processes(low, high) if cpu_seconds(pid) > 0.3]
        if busy:
            break
    assert len(busy) == 1, busy
    writer.close()  # the client gives up long before the 120 s deadline (and the CPU limit)
    for _ in range(60):
        await asyncio.sleep(0.05)
        if _state(busy[0]) in (None, "Z"):
            break
    assert _state(busy[0]) in (None, "Z"), "the abandoned run's child still runs"
    assert (await sandbox.run("print(6 * 7)")).stdout == "42\n"


async def test_clients_hanging_up_while_waiting_for_a_child_lose_no_uid(secret_in_environment) -> None:
    async with Sandbox(pool_size=1, server_args=("--uid-count", "3")) as sb:
        for _ in range(10):  # each time, most of the four wait for a fork or a child's start-up
            conns = [await asyncio.open_unix_connection(sb.socket_path) for _ in range(4)]
            for _, writer in conns:
                await write_frame(writer, {"op": "run", "code": "print(1)", "timeout": 5})
            await asyncio.sleep(0.01)
            for _, writer in conns:
                writer.close()
        for _ in range(6):  # a lost uid (or a child kept for nobody) would leave these waiting
            result = await asyncio.wait_for(sb.run("print(6 * 7)"), 20)
            assert result.stdout == "42\n", result


def _bad_socket_paths(tmp_path: Path, keep: list[socket.socket]) -> dict[str, tuple[str, str]]:
    """Name -> (socket path, the cause its error must give); ``keep`` holds the live listener."""
    (tmp_path / "a-directory").mkdir()
    (tmp_path / "notes.txt").write_text("keep me")
    live = socket.socket(socket.AF_UNIX)
    live.bind(str(tmp_path / "live.sock"))
    live.listen()
    keep.append(live)
    long_dir = tmp_path / ("d" * 100)
    return {
        "too_long": (str(long_dir / "sandbox.sock"), "at most 107"),
        "empty": ("", "the path is empty"),
        "existing_directory": (str(tmp_path / "a-directory"), "existing directory"),
        "existing_file": (str(tmp_path / "notes.txt"), "not a socket"),
        "parent_is_a_file": (str(tmp_path / "notes.txt" / "s.sock"), "Not a directory"),
        "parent_not_writable": ("/proc/sys/sandbox/s.sock", "/proc/sys is not writable"),
        "live_server": (str(tmp_path / "live.sock"), "another server is listening"),
    }


@pytest.mark.parametrize(
    "case",
    ["too_long", "empty", "existing_directory", "existing_file", "parent_is_a_file", "parent_not_writable",
     "live_server"],
)  # fmt: skip
async def test_a_bad_socket_path_fails_in_one_line_naming_path_and_cause(tmp_path, case: str) -> None:
    listeners: list[socket.socket] = []
    path, cause = _bad_socket_paths(tmp_path, listeners)[case]
    argv = [sys.executable, "-m", "sandbox", "serve", "--socket", path, "--pool-size", "1"]
    done = await asyncio.to_thread(
        subprocess.run, argv, cwd=PROJECT_ROOT, env={"LANG": "C.UTF-8"}, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"cannot listen on {path!r}: " in done.stderr and cause in done.stderr, done.stderr
    assert json.loads(done.stdout)["ready"] is False
    assert (tmp_path / "notes.txt").read_text() == "keep me"  # never replaced
    listeners[0].close()
