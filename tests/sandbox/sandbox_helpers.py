"""Helpers shared by the sandbox tests (a uniquely named module: tests/ has no packages)."""

from __future__ import annotations

import os
from pathlib import Path

from sandbox.landlock import abi_version

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SECRET = "sandbox-test-secret-7f3a"
# What a child sees in its own fresh /tmp: nothing, but for the read-only directory that holds the
# interpreter's site-packages when this checkout lies below /tmp (CI may clone there).
FRESH_TMP = [PROJECT_ROOT.parts[2]] if PROJECT_ROOT.parts[1:2] == ("tmp",) else []


def _landlock_abi() -> int:
    try:
        return abi_version()
    except OSError:
        return 0


# The kernel's Landlock ABI (0: none); tests of what Landlock adds skip without it.
LANDLOCK_ABI = _landlock_abi()


def uid_processes(low: int, high: int) -> list[tuple[int, int, int]]:
    """(pid, ppid, uid) of every live (non-zombie) process whose real uid lies in [low, high]."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        uid = int(fields["Uid"].split()[0])
        if fields["State"].split()[0] == "Z":
            continue  # dead, waiting for its (new) parent to reap it
        if low <= uid <= high:
            found.append((int(entry), int(fields["PPid"]), uid))
    return found


def cpu_seconds(pid: int) -> float:
    """CPU seconds a process has used (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
