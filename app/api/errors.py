"""Exception handlers: typed solve failures become JSON naming the cause, never a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from app.tir.errors import SolveError

__all__ = ["error_response", "install_error_handlers"]

log = logging.getLogger("tirsolve")


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def _solve_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SolveError)
    log.warning("solve failed: %s: %s", exc.code, exc.message)
    return error_response(exc.status_code, exc.code, exc.message)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", f"unexpected {type(exc).__name__}; see the service log")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 413:  # a streamed body outgrew the limit mid-read: same body as the early refusal
        return error_response(413, "body_too_large", str(exc.detail))
    return await http_exception_handler(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SolveError, _solve_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
