"""Measure every request once: Prometheus counts and latency by route template, and a JSON access log."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from typing import Any

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.middleware.paths import route_path
from app.observability.logs import ACCESS_LOGGER
from app.observability.metrics import HTTP_IN_PROGRESS, HTTP_REQUESTS, HTTP_SECONDS

__all__ = ["AccessObserver", "route_template", "route_templates"]

log = logging.getLogger(ACCESS_LOGGER)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_MAX_LOGGED_PATH = 256


def route_templates(app: Any) -> list[tuple[re.Pattern[str], str]]:
    """Path templates of `app` (its OpenAPI paths and top-level routes), most specific first."""
    paths: set[str] = set()
    with contextlib.suppress(Exception):  # a broken schema must not break request accounting
        paths.update(app.openapi().get("paths", {}))
    paths.update(p for r in getattr(app, "routes", ()) if isinstance(p := getattr(r, "path", None), str))
    # literal segments beat parameters: /homework/{job_id} must not swallow /homework/{job_id}/report
    ordered = sorted(paths, key=lambda p: (p.count("{"), -len(p)))
    return [(compile_path(p)[0], p) for p in ordered]


def route_template(
    scope: Scope, templates: list[tuple[re.Pattern[str], str]], outer_route: Any = None
) -> str:
    """The matched route's path template (`/homework/{job_id}`), or `unmatched`: never the raw path.

    `outer_route` is the route the request already had on arrival: a parent app's mount, not one of ours."""
    route = scope.get("route")
    path = getattr(route, "path", None) if route is not outer_route else None
    if isinstance(path, str):
        return path
    # refused before routing (401, 413, 429): match the templates ourselves, without the root path
    return next((t for regex, t in templates if regex.fullmatch(route_path(scope))), "unmatched")


class AccessObserver:
    def __init__(self, app: ASGIApp, *, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log
        self._templates: list[tuple[re.Pattern[str], str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        outer_route = scope.get("route")  # set when a parent app mounts this one
        status = 500  # an exception escaping the app becomes a 500 outside us
        sent = 0

        async def observing_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        HTTP_IN_PROGRESS.inc()
        try:
            await self.app(scope, receive, observing_send)
        finally:
            HTTP_IN_PROGRESS.dec()
            self._record(scope, outer_route, status, sent, time.perf_counter() - started)

    def _record(self, scope: Scope, outer_route: Any, status: int, sent: int, seconds: float) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "other"
        if self._templates is None:
            self._templates = route_templates(scope.get("app"))
        route = route_template(scope, self._templates, outer_route)
        HTTP_REQUESTS.labels(method, route, str(status)).inc()
        HTTP_SECONDS.labels(method, route, str(status)).observe(seconds)
        if self.access_log:
            client = scope.get("client")
            # The path without its query string, and no headers: credentials never reach the log.
            log.info(
                "request",
                extra={
                    "method": scope["method"][:16],
                    "path": scope["path"][:_MAX_LOGGED_PATH],
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                    "bytes": sent,
                    "client": client[0] if client else None,
                },
            )
