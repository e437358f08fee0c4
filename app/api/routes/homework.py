"""Homework grading jobs: submit a set (202 + job id), follow its progress, fetch the report, cancel it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from app.api.errors import error_response
from app.api.homework_body import SET_BODY_DOC, read_homework_set
from app.api.schemas import BODY_ERRORS
from app.config import Settings
from app.grading import (
    HomeworkRunner,
    JobInfo,
    ReportFormat,
    SqliteJobStore,
    TooManyJobs,
    solver_keyer,
)
from app.grading.report import MEDIA_TYPES, RenderedReports
from app.grading.store import IdempotencyKeyReused, StoreUnavailable
from app.observability.metrics import HOMEWORK_REJECTED

__all__ = ["REPORTS_AT_ONCE", "router"]

REPORTS_AT_ONCE = 2


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the job store and resume jobs a previous process left unfinished (the app's lifespan, which runs
    first, owns the checker pool and the solver)."""
    settings: Settings = app.state.settings
    try:
        store = SqliteJobStore(settings.grading_store_path)
    except StoreUnavailable as exc:  # the operator's fix is this setting (or the disk under it)
        raise StoreUnavailable(f"{exc} (TIRSOLVE_GRADING_STORE_PATH)") from None
    runner = HomeworkRunner(
        store,
        app.state.checker_pool,
        solver_keyer(app.state.solver, settings.key_samples),
        review_threshold=settings.review_threshold,
        max_unfinished=settings.max_unfinished_jobs,
    )
    app.state.homework = runner
    # A report of 100,000 items takes seconds and ~150 MB to build: a few at once, the rest wait their turn
    # (a class refreshing the report page must not run the service out of memory).
    app.state.report_slots = asyncio.Semaphore(REPORTS_AT_ONCE)
    app.state.reports = RenderedReports(store)
    await runner.resume()
    try:
        yield
    finally:
        await runner.close()
        store.close()


router = APIRouter(prefix="/homework", tags=["homework"], lifespan=lifespan)
_NOT_FOUND = {404: {"description": "No job with this id."}}
# Reports carry students' text and open on the API's origin (where the web pages keep the API key): even if
# an escape were missed, the page may run no script and load nothing, and no type is sniffed.
_REPORT_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}


def _runner(request: Request) -> HomeworkRunner:
    return request.app.state.homework


def _unknown(job_id: str) -> JSONResponse:
    shown = job_id if len(job_id) <= 64 else job_id[:64] + "…"  # never echo a megabyte of path back
    return error_response(404, "job_not_found", f"no homework job {shown!r}")


IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 255
# What `_bad_key` accepts, in the published schema (checked here, so the refusal is our 400, not a 422)
_KEY_SCHEMA = {"minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY, "pattern": "^[ -~]+$"}

_SUBMIT_ERRORS: dict[int | str, dict[str, Any]] = {
    **BODY_ERRORS,
    200: {"description": "A retry: the job its `Idempotency-Key` made first.", "model": JobInfo},
    400: {"description": "The body is not valid JSON, or the `Idempotency-Key` header is malformed."},
    413: {"description": "Request body too large (setting `max_homework_body_bytes`)."},
    422: {"description": "Invalid set, or an `Idempotency-Key` already used for a different set."},
    429: {
        "description": "Too many unfinished jobs (setting `max_unfinished_jobs`); retry after `Retry-After` "
        "seconds.",
        "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    },
}


_KEY_DOC = (
    "Makes retries safe: a retry with the same key and the same set gets the first job back (200, "
    "`Idempotent-Replayed: true`) instead of grading the set again. 1-255 printable ASCII characters, e.g. a "
    "UUID; one key per set."
)


@router.post(
    "",
    status_code=202,
    response_model=JobInfo,
    responses=_SUBMIT_ERRORS,
    openapi_extra={"requestBody": SET_BODY_DOC},
)
async def submit(
    request: Request,
    response: Response,
    idempotency_key: str | None = Header(
        None, alias=IDEMPOTENCY_HEADER, description=_KEY_DOC, json_schema_extra=_KEY_SCHEMA
    ),
) -> JobInfo | JSONResponse:
    """Queue a homework set for grading; poll `GET /homework/{id}` for progress."""
    if idempotency_key is not None:
        bad = _bad_key(idempotency_key, len(request.headers.getlist(IDEMPOTENCY_HEADER)))
        if bad is not None:  # before a set of megabytes is read
            return error_response(400, "invalid_idempotency_key", bad)
    homework = await read_homework_set(request)
    runner = _runner(request)
    created = True
    try:
        if idempotency_key is None:
            info = await runner.submit(homework)
        else:
            info, created = await runner.submit_keyed(homework, idempotency_key)
    except TooManyJobs as exc:
        HOMEWORK_REJECTED.inc()
        refused = error_response(429, "too_many_jobs", str(exc))
        refused.headers["Retry-After"] = str(exc.retry_after)
        return refused
    except IdempotencyKeyReused as exc:
        message = (
            f"the {IDEMPOTENCY_HEADER} header {_shown(exc.key)} was already sent with a different homework "
            f"set (job {exc.job_id}); send a new key with a new set"
        )
        return error_response(422, "idempotency_key_reused", message)
    # under a root path (behind a proxy at /tirsolve, or mounted) the job lives below it too
    response.headers["Location"] = f"{request.scope.get('root_path', '')}/homework/{info.id}"
    if not created:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return info


def _bad_key(key: str, sent: int) -> str | None:
    """Why an Idempotency-Key header value is refused, or None (HTTP headers reach us as Latin-1); `sent`
    counts the header's lines (FastAPI passes the first: with two keys, which one was meant is unknown)."""
    if sent > 1:
        return f"the {IDEMPOTENCY_HEADER} header was sent {sent} times; send it once"
    if not key:
        return f"the {IDEMPOTENCY_HEADER} header is empty; send 1-{MAX_IDEMPOTENCY_KEY} characters"
    if len(key) > MAX_IDEMPOTENCY_KEY:
        return f"the {IDEMPOTENCY_HEADER} header has {len(key)} characters; at most {MAX_IDEMPOTENCY_KEY}"
    if not all(" " <= c <= "~" for c in key):
        return f"the {IDEMPOTENCY_HEADER} header may hold only printable ASCII characters"
    return None


def _shown(key: str) -> str:
    return repr(key if len(key) <= 64 else key[:64] + "…")


@router.get("", response_model=list[JobInfo])
async def list_jobs(
    request: Request, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10_000_000)
) -> list[JobInfo]:
    """Jobs, newest first."""
    return await asyncio.to_thread(_runner(request).store.list, limit, offset)


@router.get("/{job_id}", response_model=JobInfo, responses=_NOT_FOUND)
async def status(job_id: str, request: Request) -> JobInfo | JSONResponse:
    """Status and progress (problems keyed, submissions checked)."""
    info = await asyncio.to_thread(_runner(request).store.info, job_id)  # the store may wait on its lock
    return info if info is not None else _unknown(job_id)


@router.get(
    "/{job_id}/report", responses={**_NOT_FOUND, 200: {"content": {t: {} for t in MEDIA_TYPES.values()}}}
)
async def report(job_id: str, request: Request, format: ReportFormat = Query("json")) -> Response:
    """Per-student scores, per-item verdicts with reasons, and each problem's key with its confidence."""
    async with request.app.state.report_slots:
        body = await asyncio.to_thread(request.app.state.reports.render, job_id, format)
    if body is None:
        return _unknown(job_id)
    return Response(body, media_type=MEDIA_TYPES[format], headers=_REPORT_HEADERS)


@router.post("/{job_id}/cancel", response_model=JobInfo, responses=_NOT_FOUND)
async def cancel(job_id: str, request: Request) -> JobInfo | JSONResponse:
    """Stop a queued or running job; what was graded stays and the report shows it."""
    info = await _runner(request).cancel(job_id)
    return info if info is not None else _unknown(job_id)


@router.delete("/{job_id}", status_code=204, responses=_NOT_FOUND)
async def delete(job_id: str, request: Request) -> Response:
    """Stop the job if it runs, and delete it with its keys and verdicts."""
    if not await _runner(request).delete(job_id):
        return _unknown(job_id)
    return Response(status_code=204)
