"""A model server that answers with exactly the bytes a test scripted (raw asyncio HTTP/1.1, its own process).

`python tests/tir/scripted_model.py PORT`. `PUT /script` takes a JSON list of responses; each model request
(any other POST) takes the next one, and the last one repeats. A response is
`{"status": 200, "headers": {...}, "chunks": [str, ...], "hex": bool, "delay": s, "abort": bool}`:
the chunks are written one by one (as UTF-8, or decoded from hex with `"hex": true`, so a test can split a
multibyte character) with `delay` seconds between them, without Content-Length (the connection closes at the
end); `abort` resets the connection after the last chunk instead of closing it cleanly.
`GET /requests` returns the JSON bodies of the model requests received since the last `PUT /script`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import sys
from typing import Any

SCRIPT: list[dict[str, Any]] = [
    {"status": 200, "chunks": ['{"choices": [{"text": "", "finish_reason": "stop"}]}']}
]
REQUESTS: list[Any] = []
_REASONS = {
    200: "OK",
    400: "Bad Request",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Unavailable",
}


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return method, path, body


def _plain(status: int, body: Any) -> bytes:
    data = json.dumps(body).encode()
    head = f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    return (head + "Connection: close\r\n\r\n").encode() + data


async def _play(writer: asyncio.StreamWriter, response: dict[str, Any]) -> None:
    status = response.get("status", 200)
    headers = {"Content-Type": "application/json", **response.get("headers", {})}
    head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "Connection: close\r\n\r\n"
    writer.write(head.encode())
    for chunk in response.get("chunks", []):
        writer.write(bytes.fromhex(chunk) if response.get("hex") else chunk.encode())
        await writer.drain()
        if response.get("delay"):
            await asyncio.sleep(response["delay"])
    await writer.drain()
    if response.get("abort"):
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST, not FIN
        writer.transport.abort()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    global SCRIPT
    try:
        method, path, body = await _read_request(reader)
        if path == "/script" and method == "PUT":
            SCRIPT = json.loads(body)
            REQUESTS.clear()
            writer.write(_plain(200, {"ok": True}))
        elif path == "/requests":
            writer.write(_plain(200, REQUESTS))
        elif method == "GET":  # /v1/models: the readiness check
            writer.write(_plain(200, {"data": [{"id": "scripted"}]}))
        else:
            REQUESTS.append(json.loads(body or b"{}"))
            response = SCRIPT[0] if len(SCRIPT) == 1 else SCRIPT.pop(0)
            await _play(writer, response)
            if response.get("abort"):
                return
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        if not writer.transport.is_closing():
            writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
