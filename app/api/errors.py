"""Exception handlers: every failure becomes JSON `{"error": {"code", "message"}}` naming the cause, never a
stack trace. Validation errors keep FastAPI's `detail` list beside it (clients read either)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.routing import Match

from app.api.disconnect import ClientGone
from app.grading.store import StoreUnavailable
from app.tir.errors import SolveError

__all__ = ["error_response", "install_error_handlers"]

log = logging.getLogger("tirsolve")

_MAX_ERRORS = 20  # a 50,000-row homework set can fail on every row; the first few name the problem
_MAX_INPUT_CHARS = 200  # an echoed input is a hint, not a copy of the body
_JSON_TYPES = ("application/json",)
_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "body_timeout",
    413: "body_too_large",
}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}, **extra}, status, headers)


async def _solve_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SolveError)
    log.warning("solve failed: %s: %s", exc.code, exc.message)
    return error_response(exc.status_code, exc.code, exc.message)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", f"unexpected {type(exc).__name__}; see the service log")


async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error("homework job store unavailable: %s", exc)
    return error_response(503, "store_unavailable", str(exc), {"Retry-After": "5"})


async def _client_gone(request: Request, exc: Exception) -> JSONResponse:
    # Nobody reads this answer; it is for the access log and the request metrics (nginx's 499).
    log.info(
        "client closed the connection on %s %s; its work was cancelled", request.method, request.url.path
    )
    return error_response(
        499, "client_closed_request", "the client closed the connection; the work was cancelled"
    )


def _safe(value: Any, limit: int = _MAX_INPUT_CHARS) -> Any:
    """A JSON-encodable, UTF-8-encodable, short stand-in for a value a client sent (NaN, lone surrogates)."""
    if value is None or isinstance(value, bool | int):
        return value if not isinstance(value, int) or abs(value) < 10**30 else f"{str(value)[:20]}…"
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    text = value if isinstance(value, str) else repr(value)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[:limit] + "…"


def _clean(error: dict[str, Any]) -> dict[str, Any]:
    """One validation error, safe to send: scalar inputs shortened, containers (whole bodies) left out."""
    clean: dict[str, Any] = {
        "type": error.get("type"),
        "loc": [_safe(p) for p in error.get("loc", ())],
        "msg": _safe(error.get("msg", ""), 1000),
    }
    value = error.get("input")
    if not isinstance(value, dict | list | tuple | bytes):
        clean["input"] = _safe(value)
    if error.get("ctx"):
        clean["ctx"] = {str(k): _safe(v) for k, v in error["ctx"].items()}
    return clean


def _where(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts[:1] == ["body"]:
        parts = parts[1:]
    return ".".join(parts) or "body"


def _describe(error: dict[str, Any]) -> str:
    if error["type"] == "json_invalid":  # FastAPI puts the character offset where a field name would be
        cause = error.get("ctx", {}).get("error", "decode error")
        return f"the body is not valid JSON: {cause} at character {error['loc'][-1]}"
    return f"{_where(error['loc'])}: {error['msg']}"


def _not_json(request: Request, errors: Sequence[dict[str, Any]]) -> str | None:
    """The content type of a body FastAPI did not parse as JSON (it then fails as a whole), else None."""
    content_type = request.headers.get("content-type", "")
    whole_body = any(
        tuple(e.get("loc", ())) == ("body",) and isinstance(e.get("input"), bytes | str) for e in errors
    )
    media = content_type.split(";")[0].strip().lower()
    if whole_body and media not in _JSON_TYPES and not media.endswith("+json"):
        return content_type or "none"
    return None


def _invalid(request: Request, errors: Sequence[dict[str, Any]]) -> JSONResponse:
    media = _not_json(request, errors)
    if media is not None:
        message = f"the body must be a JSON object sent with Content-Type: application/json (got {media!r})"
        return error_response(415, "unsupported_media_type", _safe(message, 300))
    detail = [_clean(e) for e in errors[:_MAX_ERRORS]]
    message = "; ".join(_describe(e) for e in detail[:5])
    if len(errors) > 5:
        message += f" (and {len(errors) - 5} more)"
    return error_response(422, "invalid_request", message, detail=detail)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return _invalid(request, exc.errors())


def _unparsable(cause: BaseException | None) -> str:
    """Why FastAPI could not read a body it took for JSON (it says only "There was an error parsing")."""
    if isinstance(cause, UnicodeDecodeError):
        return "the body is not valid UTF-8"
    if isinstance(cause, RecursionError):
        return "the JSON body is nested too deeply"
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return "a number in the JSON body has too many digits"
    return "the body could not be parsed as JSON"


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304) or exc.status_code < 200:
        return Response(status_code=exc.status_code, headers=exc.headers)
    if isinstance(exc.detail, list):  # a route's own field check, shaped like FastAPI's
        return _invalid(request, exc.detail)
    if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
        return error_response(400, "invalid_json", _unparsable(exc.__cause__), exc.headers)
    if exc.status_code == 405:
        return _method_not_allowed(request)
    code = _CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), exc.headers, detail=exc.detail)


def _method_not_allowed(request: Request) -> JSONResponse:
    """405 with `Allow` listing every method of the path: Starlette names only the first route's, so
    `OPTIONS /homework` answered `Allow: POST` though GET lists the jobs (RFC 9110 wants them all)."""
    allow = ", ".join(method for method in _METHODS if _routed(request, method))
    message = f"{request.method} is not allowed on {request.url.path[:100]}; allowed: {allow}"
    return error_response(405, "method_not_allowed", message, {"Allow": allow}, detail="Method Not Allowed")


def _routed(request: Request, method: str) -> bool:
    scope = {**request.scope, "method": method}
    return any(route.matches(scope)[0] == Match.FULL for route in request.app.routes)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SolveError, _solve_error)
    app.add_exception_handler(ClientGone, _client_gone)
    app.add_exception_handler(StoreUnavailable, _store_unavailable)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
