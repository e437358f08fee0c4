"""The wire protocol: bad input gets a clear error naming the field or cause, and the server survives."""

from __future__ import annotations

import asyncio
import struct

import pytest

from sandbox import RequestRejected, Sandbox
from sandbox.protocol import MAX_FRAME, read_frame, write_frame

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def exchange(sb: Sandbox, message: dict) -> dict:
    reader, writer = await asyncio.open_unix_connection(sb.socket_path)
    try:
        await write_frame(writer, message)
        return await read_frame(reader)
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("message", "cause"),
    [
        ({"op": "launch"}, "unknown op 'launch'"),
        ({"code": "print(1)"}, "unknown op None"),
        ({"op": "run"}, "field 'code' must be a string"),
        ({"op": "run", "code": 42}, "field 'code' must be a string"),
        ({"op": "run", "code": "print(1)", "timeout": -1}, "field 'timeout'"),
        ({"op": "run", "code": "print(1)", "timeout": "soon"}, "field 'timeout'"),
        ({"op": "run", "code": "print(1)", "timeout": True}, "field 'timeout'"),
        ({"op": "run", "code": "x" * (300 * 1024)}, "longer than 256 KiB"),
        ({"op": "session_run", "code": "print(1)"}, "no session is open"),
        ({"op": "session_open", "idle_timeout": 0}, "field 'idle_timeout'"),
        # NaN passes "<= 0" and then never reaches a deadline: a session that never expires
        ({"op": "session_open", "idle_timeout": float("nan")}, "field 'idle_timeout'"),
        ({"op": "session_open", "total_timeout": float("nan")}, "field 'total_timeout'"),
    ],
)
async def test_bad_requests_get_a_clear_error(sandbox: Sandbox, message: dict, cause: str) -> None:
    reply = await exchange(sandbox, message)
    assert reply["ok"] is False and reply["error"]["kind"] == "bad_request"
    assert cause in reply["error"]["message"]


async def test_malformed_frames_are_rejected_without_harm(sandbox: Sandbox) -> None:
    for payload in (struct.pack(">I", 5) + b"nope!", struct.pack(">I", 4) + b"[12]"):
        reader, writer = await asyncio.open_unix_connection(sandbox.socket_path)
        writer.write(payload)
        reply = await read_frame(reader)
        writer.close()
        assert reply["ok"] is False and reply["error"]["kind"] == "bad_request"
    reader, writer = await asyncio.open_unix_connection(sandbox.socket_path)
    writer.write(struct.pack(">I", MAX_FRAME + 1))
    reply = await read_frame(reader)
    writer.close()
    assert "exceeds" in reply["error"]["message"]
    assert (await sandbox.run("print('still serving')")).stdout == "still serving\n"


async def test_huge_session_timeouts_are_capped(sandbox: Sandbox) -> None:
    reply = await exchange(sandbox, {"op": "session_open", "idle_timeout": 10**400, "total_timeout": 1e308})
    assert reply["ok"] is True, reply


async def test_json_the_decoder_refuses_gets_a_reply_not_a_dropped_connection(sandbox: Sandbox) -> None:
    # Deep nesting (RecursionError) and ints past the digit limit (ValueError) are not JSONDecodeErrors.
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"op": ' + b"1" * 5000 + b"}"):
        reader, writer = await asyncio.open_unix_connection(sandbox.socket_path)
        writer.write(struct.pack(">I", len(body)) + body)
        reply = await read_frame(reader)
        writer.close()
        assert reply["ok"] is False and reply["error"]["kind"] == "bad_request", reply


async def test_client_raises_request_rejected(sandbox: Sandbox) -> None:
    with pytest.raises(RequestRejected, match="field 'timeout'"):
        await sandbox.run("print(1)", timeout=-5)
    with pytest.raises(RequestRejected, match="field 'timeout'"):
        await sandbox.run("print(1)", timeout=0)  # not "the default"
    with pytest.raises(RequestRejected, match="field 'code'"):
        await sandbox.run(None)  # type: ignore[arg-type]


async def test_code_with_a_null_byte_is_an_error_result(sandbox: Sandbox) -> None:
    result = await sandbox.run("print(1)\x00")
    assert result.status == "error" and "null bytes" in result.error


async def test_ping_and_probe_ops(sandbox: Sandbox) -> None:
    pong = await exchange(sandbox, {"op": "ping"})
    assert pong["ok"] and pong["pong"] and pong["pool_size"] == 2
    low, high = pong["uids"]
    assert high - low + 1 == 128 and low >= 61000
    probe = await exchange(sandbox, {"op": "probe"})
    assert probe["report"]["safe"] is True
