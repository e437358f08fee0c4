"""The zygote's heap in transparent huge pages: made where memory is in use, never where it is not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sandbox_helpers import PROJECT_ROOT

from sandbox import Sandbox

THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
needs_collapse = pytest.mark.skipif(
    not THP.exists()
    or "[never]" in THP.read_text()
    or tuple(int(p) for p in os.uname().release.split(".")[:2]) < (6, 1),
    reason="MADV_COLLAPSE needs Linux 6.1 and transparent huge pages not set to never",
)

# One fresh mapping between two guard pages (so no neighbour merges into it): 6 MiB written all
# over, then 4 MiB with one page touched per 2 MiB.
PROBE = """
import ctypes, json, sys
sys.path.insert(0, sys.argv[1])
from sandbox.hugepages import collapse_heap
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
c_int = ctypes.c_int
libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, c_int, c_int, c_int, ctypes.c_long)
libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
KiB, MiB = 1 << 10, 1 << 20
base = libc.mmap(None, 10 * MiB + 8 * KiB, 3, 0x22, -1, 0)  # read-write, private anonymous
libc.mprotect(base, 4 * KiB, 0)
libc.mprotect(base + 10 * MiB + 4 * KiB, 4 * KiB, 0)
start = base + 4 * KiB
ctypes.memset(start, 1, 6 * MiB)
for offset in range(6 * MiB, 10 * MiB, 2 * MiB):
    ctypes.memset(start + offset, 1, 1)
made, _ = collapse_heap()
stats, inside = {}, False
for line in open("/proc/self/smaps"):
    fields = line.split()
    if "-" in fields[0] and ":" not in fields[0]:
        inside = int(fields[0].split("-")[0], 16) == start
    elif inside and fields[0] in ("AnonHugePages:", "Rss:"):
        stats[fields[0].rstrip(":")] = int(fields[1])
print(json.dumps({"made": made, **stats}))
"""


@needs_collapse
def test_memory_in_use_is_collapsed_and_reserved_memory_is_not_filled() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(PROJECT_ROOT)], capture_output=True, text=True, check=True
    )
    report = json.loads(out.stdout)
    # 6 MiB written from an arbitrary start hold at least two aligned 2 MiB pages.
    assert report["made"] >= 2 and report["AnonHugePages"] >= 4096, report
    # The sparse 4 MiB stay as they were: at most the 2 MiB page that straddles the boundary is
    # filled (by under a quarter of it); without the residency check Rss would grow by >= 2 MiB.
    assert report["Rss"] <= 6 * 1024 + 512 + 8, report


@needs_collapse
@pytest.mark.asyncio(loop_scope="session")
async def test_children_are_forked_from_a_zygote_in_huge_pages(sandbox: Sandbox) -> None:
    zygote = (await sandbox.ping())["zygote_pid"]
    rollup = _read(f"/proc/{zygote}/smaps_rollup")
    huge_kib = int(next(line.split()[1] for line in rollup.splitlines() if line.startswith("AnonHugePages")))
    assert huge_kib >= 8 * 1024, rollup
    # Copy-on-write still holds page by page: what a run changes, the next run does not see.
    first = await sandbox.run("import sympy\nsympy.solve = lambda *a: 'patched'\nprint(sympy.solve(1))")
    second = await sandbox.run("import sympy\nx = sympy.Symbol('x')\nprint(sympy.solve(x - 4, x))")
    assert (first.stdout, second.stdout) == ("patched\n", "[4]\n"), (first, second)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()
