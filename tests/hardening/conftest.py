"""Fixtures and process helpers of the hardening tests (real services, replay servers and sandboxes)."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Proc, StartReplay

HERE = Path(__file__).resolve().parent
HOSTILE = HERE / "hostile_trajectories.jsonl"
FAULTS = HERE / "fault_trajectories.jsonl"
SLOW_PROBLEM = "Fault check: compute six times seven slowly in the sandbox."
LONG_PROBLEM = "Fault check: think at length, then say what seven times six is."
THREE_ROUNDS = "Fault check: three rounds of arithmetic for twelve."
SANDBOX_UID_BASE, SANDBOX_UID_BLOCK = 61000, 128


@pytest.fixture(scope="module")
def slow_replay(start_replay: StartReplay) -> Proc:
    """A deliberately slow model server: every call waits 1 s before it answers."""
    return start_replay(FAULTS, extra=["--latency-ms", "1000"])


# --- processes ------------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children(todo.pop()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def uid_of(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def sandbox_server_pid(service: Proc, timeout: float = 10.0) -> int:
    """The sandbox server the service started (its child running `-m sandbox serve`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in children(service.popen.pid):
            if "sandbox serve" in cmdline(pid):
                return pid
        time.sleep(0.05)
    raise AssertionError("the service has no sandbox server child")


def uid_block(uid: int) -> int:
    return (uid - SANDBOX_UID_BASE) // SANDBOX_UID_BLOCK


def uid_blocks(pids: set[int]) -> set[int]:
    """The sandbox uid blocks (of 128 uids) the given processes run in."""
    uids = {u for p in pids if (u := uid_of(p)) is not None and u >= SANDBOX_UID_BASE}
    return {uid_block(u) for u in uids}


def processes_in_blocks(blocks: set[int]) -> list[int]:
    """Live processes whose uid lies in one of the sandbox uid `blocks`."""
    found = []
    for entry in Path("/proc").iterdir():
        uid = uid_of(int(entry.name)) if entry.name.isdigit() else None
        if (
            uid is not None
            and uid >= SANDBOX_UID_BASE
            and (uid - SANDBOX_UID_BASE) // SANDBOX_UID_BLOCK in blocks
        ):
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running (not a zombie waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def sigterm_and_wait(proc: Proc, bound: float) -> float:
    """SIGTERM the service; returns how long it took to exit (fails past `bound`)."""
    started = time.monotonic()
    proc.popen.send_signal(signal.SIGTERM)
    try:
        proc.popen.wait(timeout=bound)
    except Exception:
        proc.popen.kill()
        raise AssertionError(
            f"{proc.name} did not exit within {bound} s of SIGTERM:\n{proc.log_text()}"
        ) from None
    return time.monotonic() - started


# --- service answers ------------------------------------------------------------------------------


def metric(service_url: str, name: str, headers: dict[str, str] | None = None, **labels: str) -> float:
    """The value of one sample of `/metrics` (0 when absent)."""
    text = httpx.get(f"{service_url}/metrics", headers=headers, timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def json_log_lines(proc: Proc) -> list[dict]:
    """Every JSON line of the service's log (stdout and stderr)."""
    lines = []
    for line in proc.log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as c:
        yield c
