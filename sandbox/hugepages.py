"""Back the zygote's preloaded heap with transparent huge pages.

Every child is a fork of the zygote, and the kernel copies one page-table entry per 4 KiB page of
the heap when it forks and drops them all when the child ends: with sympy loaded that is ~15,000
entries each way, most of the cost of a trivial run. Collapsed into 2 MiB pages, the same heap takes
about 25 entries. A child that writes to a huge page splits only its own mapping of it and copies
4 KiB, as before, so what a run can see or change is unaffected.

Best effort: the kernel refuses (Linux < 6.1, THP set to ``never``) and nothing changes.
"""

from __future__ import annotations

import ctypes
import errno

_libc = ctypes.CDLL(None, use_errno=True)
_libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
_libc.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p)
MADV_COLLAPSE = 25
HUGE_PAGE = 2 << 20
PAGES_PER_HUGE_PAGE = HUGE_PAGE // 4096
# A huge page is made only where most of its 4 KiB pages are in use already: collapsing fills the
# rest with zeros, and reserved but untouched memory (malloc arenas) must not grow by 2 MiB a piece.
MIN_RESIDENT = PAGES_PER_HUGE_PAGE * 3 // 4


def collapse_heap(maps: str = "/proc/self/maps") -> tuple[int, str]:
    """Collapse the process's private anonymous memory into huge pages, where the kernel allows.

    Returns the number of huge pages made and, when none could be, the kernel's reason."""
    made, reason = 0, "no 2 MiB range mostly in use"
    residency = ctypes.create_string_buffer(PAGES_PER_HUGE_PAGE)
    for start, end in _anonymous_ranges(maps):
        for chunk in range(start, end, HUGE_PAGE):
            if _libc.mincore(chunk, HUGE_PAGE, residency) != 0:
                continue
            if sum(byte & 1 for byte in residency.raw) < MIN_RESIDENT:
                continue
            if _libc.madvise(chunk, HUGE_PAGE, MADV_COLLAPSE) == 0:
                made += 1
            else:
                reason = errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
    return made, "" if made else reason


def _anonymous_ranges(maps: str) -> list[tuple[int, int]]:
    """The 2 MiB-aligned parts of the private, writable, anonymous mappings (and the brk heap)."""
    ranges = []
    with open(maps) as lines:
        for line in lines:
            fields = line.split()
            name = fields[5] if len(fields) > 5 else ""
            if fields[1] != "rw-p" or name not in ("", "[heap]"):
                continue
            low, high = (int(bound, 16) for bound in fields[0].split("-"))
            start, end = -(-low // HUGE_PAGE) * HUGE_PAGE, high // HUGE_PAGE * HUGE_PAGE
            if end > start:
                ranges.append((start, end))
    return ranges
