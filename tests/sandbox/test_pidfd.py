"""The server signals children through pidfds: never a process that got a dead child's pid."""

from __future__ import annotations

import os
import subprocess

import pytest

from sandbox import Sandbox
from sandbox.pool import Child

pytestmark = pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="no pidfd_open on this platform")


def test_a_signal_for_a_reaped_child_reaches_no_one_else() -> None:
    victim = subprocess.Popen(["sleep", "30"])
    gone = subprocess.Popen(["true"])
    pidfd = os.pidfd_open(gone.pid)
    gone.wait()  # reaped: its pidfd now names no process
    try:
        child = Child.__new__(Child)  # only the signalling state: as if the child's pid had been reused
        child.pid, child.pidfd = victim.pid, pidfd
        child.kill()
        with pytest.raises(subprocess.TimeoutExpired):
            victim.wait(timeout=0.3)  # still alive: the SIGKILL went nowhere
    finally:
        os.close(pidfd)
        victim.kill()
        victim.wait()


@pytest.mark.asyncio(loop_scope="session")
async def test_the_server_holds_a_pidfd_for_a_live_session_child(sandbox: Sandbox) -> None:
    server = (await sandbox.ping())["pid"]
    async with sandbox.session() as session:
        child_pid = int((await session.run("import os\nprint(os.getpid())")).stdout)
        assert child_pid in _pidfd_targets(server), (child_pid, _pidfd_targets(server))


def _pidfd_targets(pid: int) -> set[int]:
    """The processes that ``pid``'s pidfds name (from their fdinfo)."""
    targets = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:[pidfd]":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                targets |= {int(line.split()[1]) for line in info if line.startswith("Pid:")}
        except OSError:
            continue
    return targets
