"""Optional API keys: `Authorization: Bearer <key>` or `X-API-Key: <key>`; health and docs stay open."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.middleware.paths import route_path
from app.api.middleware.responses import send_error

__all__ = ["OPEN_PATHS", "OPEN_PREFIXES", "ApiKeyAuth"]

# Probes, API docs and the web pages' shells and assets hold no data; every data route needs a key.
OPEN_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
        "/",
        "/homework.html",
    }
)
OPEN_PREFIXES = ("/static/", "/examples/")


def presented_key(headers: Headers) -> str | None:
    auth = headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key") or None


class ApiKeyAuth:
    """Refuses requests without a configured key with 401; with no keys configured it lets all through."""

    def __init__(
        self,
        app: ASGIApp,
        keys: Iterable[str],
        open_paths: frozenset[str] = OPEN_PATHS,
        open_prefixes: tuple[str, ...] = OPEN_PREFIXES,
    ) -> None:
        self.app = app
        self._keys = [k.encode() for k in keys if k]
        self.open_paths = open_paths
        self.open_prefixes = open_prefixes

    def _open(self, path: str) -> bool:
        return path in self.open_paths or path.startswith(self.open_prefixes)

    def _valid(self, key: str) -> bool:
        given = key.encode("latin-1")  # the header's raw bytes (Starlette decodes headers as latin-1)
        valid = False
        for known in self._keys:  # compare with every key, in constant time: no timing hint
            valid |= hmac.compare_digest(given, known)
        return valid

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._keys or self._open(route_path(scope)):
            await self.app(scope, receive, send)
            return
        key = presented_key(Headers(scope=scope))
        if key is None:
            message = (
                "this service needs an API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
            )
            await send_error(send, 401, "missing_api_key", message, {"WWW-Authenticate": "Bearer"})
            return
        if not self._valid(key):
            # Never echo the key: it may be a real key of another service pasted by mistake.
            await send_error(
                send, 401, "invalid_api_key", "the API key is not valid", {"WWW-Authenticate": "Bearer"}
            )
            return
        await self.app(scope, receive, send)
