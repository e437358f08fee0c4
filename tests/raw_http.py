"""The HTTP/1.1 that the tests' hand-written model servers share: raw asyncio, one request per connection.

Those servers must send what no framework would (a cut body, a stalled stream, a reset), so they write bytes
themselves; this module holds the dull parts. Run them with `python -m tests.<folder>.<server> PORT`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

Handler = Callable[[str, str, bytes, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[str, str, bytes]:
    """Method, path and body of the next request (the body by Content-Length; none without it)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return method, path, body


def response(status: str, body: bytes, ctype: str = "application/json", extra: str = "") -> bytes:
    """A whole response with Content-Length; `extra` is more header lines, each ending in CRLF."""
    head = f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n{extra}"
    return (head + "Connection: close\r\n\r\n").encode() + body


def json_response(body: Any, status: str = "200 OK") -> bytes:
    return response(status, json.dumps(body).encode())


def serve(handler: Handler, port: int) -> None:
    """Serve on 127.0.0.1:`port` until killed: one request per connection, closed after `handler` returns.

    A client that hangs up mid-request is not an error here (the fault tests do it on purpose)."""

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path, body = await read_request(reader)
            await handler(method, path, body, writer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if not writer.transport.is_closing():
                writer.close()

    async def main() -> None:
        server = await asyncio.start_server(connection, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())
