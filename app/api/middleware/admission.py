"""Backpressure: a bounded number of solves run, a bounded number wait; the rest get 429 + Retry-After."""

from __future__ import annotations

import asyncio
import math
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.middleware.paths import route_path
from app.api.middleware.responses import send_error
from app.observability.metrics import SOLVES_ACTIVE, SOLVES_QUEUED, SOLVES_REJECTED

__all__ = ["AdmissionControl", "AdmissionGate", "Overloaded"]


class Overloaded(Exception):
    def __init__(self, reason: str, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.reason, self.message, self.retry_after = reason, message, retry_after


class AdmissionGate:
    """`capacity` holders at once, at most `queue` waiters, each waiting at most `queue_timeout` seconds."""

    def __init__(self, capacity: int, queue: int, queue_timeout: float) -> None:
        self.capacity, self.queue, self.queue_timeout = capacity, queue, queue_timeout
        self.active = 0
        self.waiting = 0
        self._slots = asyncio.Semaphore(capacity)
        self._mean_hold_s = 1.0  # moving average of how long a holder keeps its slot (for Retry-After)

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the queue ahead drains `capacity` at a time."""
        estimate = self._mean_hold_s * (self.waiting + 1) / self.capacity
        return max(1, min(60, math.ceil(estimate)))

    def check(self) -> None:
        """Raise `Overloaded` if every slot is taken and the queue is full."""
        if self._slots.locked() and self.waiting >= self.queue:
            raise Overloaded(
                "queue_full",
                f"the service is at capacity ({self.active} solves running, {self.waiting} waiting); "
                "retry later",
                self.retry_after(),
            )

    async def acquire(self) -> float:
        """Wait for a slot; returns its start time for `release`. Raises `Overloaded` instead of queueing
        without bound or waiting without end."""
        self.check()
        self.waiting += 1
        SOLVES_QUEUED.inc()
        try:
            async with asyncio.timeout(self.queue_timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise Overloaded(
                "queue_timeout",
                f"no solve slot became free within {self.queue_timeout:g} s; retry later",
                self.retry_after(),
            ) from None
        finally:
            self.waiting -= 1
            SOLVES_QUEUED.dec()
        self.active += 1
        SOLVES_ACTIVE.inc()
        return time.monotonic()

    def release(self, started: float) -> None:
        self._mean_hold_s = 0.8 * self._mean_hold_s + 0.2 * (time.monotonic() - started)
        self.active -= 1
        SOLVES_ACTIVE.dec()
        self._slots.release()


class AdmissionControl:
    """Puts the requests of `routes` ((method, path) pairs) through `gate` for their whole lifetime,
    streamed responses included; other requests pass untouched. Paths are route paths (no `root_path`).

    The body is read before a slot is taken (a full queue is refused first, without reading it): a client
    that sends its body slowly, or never finishes it, must not hold a slot while the solves wait."""

    def __init__(self, app: ASGIApp, gate: AdmissionGate, routes: frozenset[tuple[str, str]]) -> None:
        self.app = app
        self.gate = gate
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], route_path(scope)) not in self.routes:
            await self.app(scope, receive, send)
            return
        try:
            self.gate.check()
            receive = await _buffered(receive)
            started = await self.gate.acquire()
        except Overloaded as exc:
            SOLVES_REJECTED.labels(exc.reason).inc()
            await send_error(send, 429, "overloaded", exc.message, {"Retry-After": str(exc.retry_after)})
            return
        except _Gone:
            return  # the client left while sending: nobody to answer, nothing to run
        try:
            await self.app(scope, receive, send)
        finally:
            self.gate.release(started)


class _Gone(Exception):
    pass


async def _buffered(receive: Receive) -> Receive:
    """Read the whole body now; the app gets it from memory, then the live `receive` (a later disconnect
    still reaches it). Size and time limits are the outer middleware's (`BodySizeLimit`)."""
    messages: list[Message] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Gone
        messages.append(message)
        if not message.get("more_body", False):
            break

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay
