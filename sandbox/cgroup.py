"""The memory and task limits of the cgroup the server runs in, read for the probe report.

The server creates no cgroup (moving each child into one costs more than the child's whole run);
the bound on all children together comes from where the server runs: a container's ``mem_limit``
and ``pids_limit``, or ``systemd-run -p MemoryMax=… -p TasksMax=…`` on a bare host. The children's
tmpfs, output buffers and kernel memory sit outside their address-space rlimit but inside this one.
Both cgroup v2 and the v1 ``memory`` and ``pids`` hierarchies are read; the effective limit is the
smallest one from the server's cgroup up to the root of what is mounted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

UNLIMITED_V1 = 1 << 62  # v1 reports "no limit" as a huge page-rounded number


@dataclass(frozen=True)
class CgroupLimits:
    memory_bytes: int | None  # None: no limit found
    tasks: int | None

    def describe(self) -> str:
        memory = f"{self.memory_bytes / 2**20:.0f} MiB" if self.memory_bytes else "unlimited"
        tasks = str(self.tasks) if self.tasks else "unlimited"
        return f"server cgroup: memory {memory}, tasks {tasks}"


def server_limits(proc_cgroup: str = "/proc/self/cgroup", root: str = "/sys/fs/cgroup") -> CgroupLimits:
    """The effective limits of the cgroup this process belongs to."""
    try:
        with open(proc_cgroup) as f:
            lines = f.read().splitlines()
    except OSError:
        return CgroupLimits(None, None)
    memory = tasks = None
    for line in lines:
        hierarchy, controllers, path = line.split(":", 2)
        names = controllers.split(",")
        if hierarchy == "0" and not controllers:  # v2, possibly beside v1 ("unified")
            for mount in (root, os.path.join(root, "unified")):
                memory = _min(memory, _smallest(mount, path, "memory.max"))
                tasks = _min(tasks, _smallest(mount, path, "pids.max"))
        if "memory" in names:
            memory = _min(memory, _smallest(os.path.join(root, "memory"), path, "memory.limit_in_bytes"))
        if "pids" in names:
            tasks = _min(tasks, _smallest(os.path.join(root, "pids"), path, "pids.max"))
    return CgroupLimits(memory, tasks)


def _smallest(mount: str, path: str, name: str) -> int | None:
    """The smallest limit in ``name`` along ``path`` and its ancestors that exist under ``mount``
    (inside a container the mount's root is the container's own cgroup)."""
    found = None
    path = path if path.startswith("/") else "/" + path
    while True:
        found = _min(found, _read_limit(os.path.join(mount, path.lstrip("/"), name)))
        if path == "/":
            return found
        path = os.path.dirname(path)


def _read_limit(file: str) -> int | None:
    try:
        with open(file) as f:
            text = f.read().strip()
    except OSError:
        return None
    if not text.isdigit():
        return None  # "max"
    value = int(text)
    return value if value < UNLIMITED_V1 else None


def _min(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)
