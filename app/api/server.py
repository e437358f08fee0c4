"""The uvicorn server of `tirsolve serve`, with a drain phase before uvicorn's graceful shutdown.

On SIGTERM (or SIGINT) the app is marked draining at once, so /readyz answers 503 `draining`. With
`drain_s` > 0 the server then keeps listening and serving for that long — a load balancer sees the probe
fail and stops sending traffic, while requests it still sends are served — and only then starts uvicorn's
shutdown: stop listening, give in-flight requests the grace period, cancel the rest. A second signal ends
the drain at once.
"""

from __future__ import annotations

import logging
import time
from types import FrameType

import uvicorn
from fastapi import FastAPI

__all__ = ["DrainingServer"]

log = logging.getLogger("tirsolve")


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI, drain_s: float) -> None:
        super().__init__(config)
        self._app = app
        self.drain_s = drain_s
        self._drain_signal: int | None = None
        self._drain_until = 0.0
        self._drain_logged = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler: set flags only (no logging, no awaiting); `on_tick` acts on them.
        self._app.state.draining = True
        if self._drain_signal is not None:  # a second signal: skip the rest of the drain
            self._end_drain()
        elif self.drain_s > 0 and self.started and not self.should_exit:
            self._drain_signal = sig
            self._drain_until = time.monotonic() + self.drain_s
        else:
            super().handle_exit(sig, frame)

    def _end_drain(self) -> None:
        sig, self._drain_signal = self._drain_signal, None
        if sig is not None:
            super().handle_exit(sig, None)  # uvicorn's own shutdown, and the signal re-raised at its end

    async def on_tick(self, counter: int) -> bool:
        if self._drain_signal is not None:
            if not self._drain_logged:
                self._drain_logged = True
                log.info("draining for %g s before shutdown: /readyz answers 503", self.drain_s)
            if time.monotonic() >= self._drain_until:
                self._end_drain()
        return await super().on_tick(counter)
