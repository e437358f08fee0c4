"""ASGI middleware refusing request bodies over a size limit with 413 (declared or streamed).

One limit for every route, and larger (or smaller) ones for the routes named in `routes` — a homework set
legitimately carries far more than a solve request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.middleware.paths import route_path
from app.api.middleware.responses import send_error

__all__ = ["BodySizeLimit"]


class _Refused(HTTPException):
    """An HTTPException so frameworks that wrap body-read errors (FastAPI) still answer with its status.
    The rest of the body is never read, so the connection closes after the answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, message, headers={"Connection": "close"})
        self.code = code


def _size(n: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} B"


class BodySizeLimit:
    """Bodies over `max_bytes` get 413 `body_too_large`; `routes` maps (method, path) to its own limit.
    A body not complete `timeout` seconds after the request began gets 408 `body_timeout`: a client that
    trickles its body (or stops sending it) holds a connection and its buffer, never forever.

    Paths are route paths, matched as the router matches them: without the ASGI `root_path` prefix."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        routes: Mapping[tuple[str, str], int] | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.routes = dict(routes or {})
        self.timeout = timeout

    def _limit(self, scope: Scope) -> tuple[int, str]:
        """The limit of this request, and the message a body over it gets."""
        route = (scope["method"], route_path(scope).rstrip("/") or "/")
        limit = self.routes.get(route, self.max_bytes)
        message = f"request body exceeds {limit} bytes ({_size(limit)})"
        if route in self.routes:
            message += f", the limit for {route[0]} {route[1]}"
        return limit, message

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, message = self._limit(scope)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await send_error(send, 413, "body_too_large", message)
            return
        seen = 0
        started = False
        complete = False
        deadline = asyncio.get_running_loop().time() + self.timeout

        async def limited_receive() -> Message:
            nonlocal seen, complete
            if complete:  # only the disconnect is left to wait for, as long as the answer takes
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message_in = await receive()
            except TimeoutError:
                raise _Refused(
                    408, "body_timeout", f"the request body did not arrive within {self.timeout:g} s"
                ) from None
            if message_in["type"] == "http.request":
                seen += len(message_in.get("body", b""))
                complete = not message_in.get("more_body", False)
                if seen > limit:
                    raise _Refused(413, "body_too_large", message)
            return message_in

        async def tracking_send(message_out: Message) -> None:
            nonlocal started
            started = started or message_out["type"] == "http.response.start"
            await send(message_out)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _Refused as refused:
            if not started:
                await send_error(send, refused.status_code, refused.code, refused.detail, refused.headers)
