"""A model server that answers with exactly the bytes a test scripted (raw asyncio HTTP/1.1, its own process).

`python -m tests.tir.scripted_model PORT`. `PUT /script` takes a JSON list of responses; each model request
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

from tests.raw_http import json_response, serve

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


async def handle(method: str, path: str, body: bytes, writer: asyncio.StreamWriter) -> None:
    global SCRIPT
    if path == "/script" and method == "PUT":
        SCRIPT = json.loads(body)
        REQUESTS.clear()
        writer.write(json_response({"ok": True}))
    elif path == "/requests":
        writer.write(json_response(REQUESTS))
    elif method == "GET":  # /v1/models: the readiness check
        writer.write(json_response({"data": [{"id": "scripted"}]}))
    else:
        REQUESTS.append(json.loads(body or b"{}"))
        await _play(writer, SCRIPT[0] if len(SCRIPT) == 1 else SCRIPT.pop(0))


if __name__ == "__main__":
    serve(handle, int(sys.argv[1]))
