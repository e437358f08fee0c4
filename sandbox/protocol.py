"""Length-prefixed JSON frames, used on the Unix socket and on the server-to-child channel.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON (one object).
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
from typing import Any

from .errors import ProtocolError

MAX_FRAME = 16 * 1024 * 1024
_HEADER = struct.Struct(">I")


def encode(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    if len(body) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(body)} bytes exceeds the {MAX_FRAME}-byte limit")
    return _HEADER.pack(len(body)) + body


def decode(body: bytes) -> dict[str, Any]:
    try:
        message = json.loads(body)
    except (ValueError, RecursionError) as exc:  # also deep nesting and ints past the digit limit
        raise ProtocolError(f"frame is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(message, dict):
        raise ProtocolError("frame must hold a JSON object")
    return message


async def read_frame(reader: asyncio.StreamReader, max_bytes: int = MAX_FRAME) -> dict[str, Any]:
    """Read one frame; raises ``asyncio.IncompleteReadError`` on EOF."""
    (length,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    if length > max_bytes:
        raise ProtocolError(f"frame of {length} bytes exceeds the {max_bytes}-byte limit")
    return decode(await reader.readexactly(length))


async def write_frame(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    writer.write(encode(message))
    await writer.drain()


def _read_exactly(fd: int, n: int) -> bytes:
    chunks, remaining = [], n
    while remaining:
        chunk = os.read(fd, remaining)
        if not chunk:
            raise EOFError("channel closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame_fd(fd: int) -> dict[str, Any]:
    """Blocking read of one frame from a file descriptor (used inside the child)."""
    (length,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size))
    if length > MAX_FRAME:
        raise ProtocolError(f"frame of {length} bytes exceeds the {MAX_FRAME}-byte limit")
    return decode(_read_exactly(fd, length))


def write_frame_fd(fd: int, message: dict[str, Any]) -> None:
    view = memoryview(encode(message))
    while view:
        view = view[os.write(fd, view) :]
