"""A deliberately misbehaving model server (raw asyncio HTTP/1.1), run as its own process by the fault tests.

`python -m tests.api.faulty_model PORT`. `POST /control/<mode>` switches the behaviour and resets the
request counter; `GET /control` reports `{mode, requests}`. Model requests go to any other path.
Modes: ok, 500, 400, 429:N (N times 429 with Retry-After: 1, then ok), hang, malformed, cut,
stream-stall (one chunk, then silence), stream-endless (a chunk every 0.2 s forever).
"""

from __future__ import annotations

import asyncio
import json
import sys

from tests.raw_http import json_response, response, serve

STATE = {"mode": "ok", "requests": 0}
ANSWER = "The answer is $\\boxed{42}$."


def _ok(stream: bool, chat: bool) -> bytes:
    if stream:
        choice = {"index": 0, "delta": {"content": ANSWER}} if chat else {"index": 0, "text": ANSWER}
        end = (
            {"index": 0, "delta": {}, "finish_reason": "stop"}
            if chat
            else {"index": 0, "text": "", "finish_reason": "stop"}
        )
        body = (
            "".join(f"data: {json.dumps({'choices': [c]})}\n\n" for c in (choice, end)) + "data: [DONE]\n\n"
        )
        return response("200 OK", body.encode(), "text/event-stream")
    choice = {"index": 0, "message": {"content": ANSWER}} if chat else {"index": 0, "text": ANSWER}
    choice["finish_reason"] = "stop"
    return response("200 OK", json.dumps({"choices": [choice], "usage": {}}).encode())


async def handle(method: str, path: str, body: bytes, writer: asyncio.StreamWriter) -> None:
    if path.startswith("/control"):
        if method == "POST":
            STATE.update(mode=path.split("/", 2)[2], requests=0)
        writer.write(json_response(STATE))
        return
    if path.endswith("/models"):
        writer.write(json_response({"data": [{"id": "replay"}]}))
        return
    STATE["requests"] += 1
    mode, n = STATE["mode"], STATE["requests"]
    request = json.loads(body or b"{}")
    stream, chat = bool(request.get("stream")), path.endswith("/chat/completions")
    if mode == "ok":
        writer.write(_ok(stream, chat))
    elif mode == "500":
        writer.write(response("500 Internal Server Error", b'{"error": "CUDA out of memory"}'))
    elif mode == "400":
        writer.write(response("400 Bad Request", b'{"error": {"message": "unknown model"}}'))
    elif mode.startswith("429:"):
        if n <= int(mode.split(":")[1]):
            writer.write(
                response("429 Too Many Requests", b'{"error": "slow down"}', extra="Retry-After: 1\r\n")
            )
        else:
            writer.write(_ok(stream, chat))
    elif mode == "hang":
        await asyncio.sleep(3600)
    elif mode == "malformed":
        writer.write(response("200 OK", b'{"choices": [{"text": "The ans'))
    elif mode == "cut":
        # promises 500 bytes, sends 17, then drops the connection
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n")
        writer.write(b'{"choices": [{"te')
        await writer.drain()
        writer.transport.abort()
        return
    elif mode in ("stream-stall", "stream-endless"):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
        while True:
            piece = {"choices": [{"index": 0, "text": "more ", "delta": {"content": "more "}}]}
            writer.write(f"data: {json.dumps(piece)}\n\n".encode())
            await writer.drain()
            await asyncio.sleep(3600 if mode == "stream-stall" else 0.2)


if __name__ == "__main__":
    serve(handle, int(sys.argv[1]))
