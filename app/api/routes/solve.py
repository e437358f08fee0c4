"""POST /solve: validate, run the solver, shape the answer (JSON, or Server-Sent Events)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import StreamingResponse

from app.api.disconnect import unless_disconnected
from app.api.schemas import BODY_ERRORS, ErrorBody, SolveBody, SolveResponse
from app.observability import observed
from app.tir.errors import SolveError
from app.tir.solver import Solver

__all__ = ["router"]

log = logging.getLogger("tirsolve")
router = APIRouter(tags=["solve"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorBody, "description": "Model server or sandbox unreachable or failing."},
    504: {"model": ErrorBody, "description": "Model server timed out, or the request deadline passed."},
    429: {
        "model": ErrorBody,
        "description": "Too many solves running and waiting (`overloaded`); retry after `Retry-After`.",
        "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    },
    **BODY_ERRORS,
}


def _wants_stream(body: SolveBody, request: Request) -> bool:
    return body.stream or "text/event-stream" in request.headers.get("accept", "")


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _event_stream(solver: Solver, body: SolveBody) -> AsyncIterator[str]:
    """Run the solve in a task; relay its events; end with `final` (or `error`). Cancelled on disconnect."""
    queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    async def emit(event: dict[str, Any]) -> None:
        queue.put_nowait((event.pop("event"), event))

    async def run() -> None:
        try:
            result = await observed(solver.solve(body.to_request(), emit=emit))
            final = SolveResponse.model_validate(result.to_dict()).model_dump(mode="json")
            queue.put_nowait(("final", final))
        except SolveError as exc:
            error = {"code": exc.code, "message": exc.message, "status": exc.status_code}
            queue.put_nowait(("error", {"error": error}))
        except Exception as exc:  # a bug must end the stream (and free its solve slot), not hang it
            log.exception("unexpected error in a streamed solve")
            message = f"unexpected {type(exc).__name__}; see the service log"
            queue.put_nowait(
                ("error", {"error": {"code": "internal_error", "message": message, "status": 500}})
            )

    task = asyncio.create_task(run())
    try:
        while True:
            name, data = await queue.get()
            yield _sse(name, data)
            if name in ("final", "error"):
                break
    finally:
        task.cancel()


@router.post(
    "/solve",
    response_model=SolveResponse,
    responses={
        **_ERRORS,
        200: {
            "content": {"text/event-stream": {}},
            "description": "JSON body, or with `stream: true` events text/code/output/sample then final.",
        },
    },
)
async def solve(body: SolveBody, request: Request) -> Any:
    """Solve a math problem with tool-integrated reasoning; `samples > 1` votes over trajectories.

    With `stream: true` (or `Accept: text/event-stream`) the answer is Server-Sent Events, each tagged
    with its `sample` index: `text` (`delta`), `code` (`code`), `output` (`output`, `status`,
    `duration_ms`), `sample` (`answer`, `finish`), then `final` (the JSON body below) or `error`
    (`{error: {code, message, status}}`).
    """
    solver: Solver = request.app.state.solver
    limit = request.app.state.settings.max_samples
    if body.samples > limit:
        msg = f"Input should be less than or equal to {limit} (this service's max_samples)"
        raise HTTPException(422, detail=[{"loc": ["body", "samples"], "msg": msg, "type": "less_than_equal"}])
    if _wants_stream(body, request):
        return StreamingResponse(
            _event_stream(solver, body),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    result = await unless_disconnected(request, observed(solver.solve(body.to_request())))
    return result.to_dict()
