"""Captured stdout/stderr: memfd files shared by the server and a child, read back head-and-tail.

The child writes straight into the memfd (fd 1 or 2), so output survives a kill; RLIMIT_FSIZE caps the
file, and the server returns at most ``keep`` bytes: the head and the tail around a marker line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def marker(omitted: int) -> str:
    return f"\n... [output truncated: {omitted} bytes omitted] ...\n"


@dataclass(frozen=True)
class Captured:
    text: str
    size: int
    truncated: bool


def new_stream(name: str) -> int:
    return os.memfd_create(f"sandbox-{name}", os.MFD_CLOEXEC)


def read_stream(fd: int, keep: int) -> Captured:
    size = os.fstat(fd).st_size
    if size <= keep:
        return Captured(_decode(os.pread(fd, size, 0)), size, False)
    half = keep // 2
    head = _decode(os.pread(fd, half, 0))
    tail = _decode(os.pread(fd, half, size - half))
    return Captured(head + marker(size - 2 * half) + tail, size, True)


def clip_text(text: str, keep: int) -> Captured:
    """``text`` cut to about ``keep`` characters, head and tail around the marker (a traceback whose
    message is a huge expression, or an error the code forged on its control channel)."""
    if len(text) <= keep:
        return Captured(text, len(text), False)
    half = keep // 2
    return Captured(text[:half] + marker(len(text) - 2 * half) + text[-half:], len(text), True)


def reset_stream(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")
