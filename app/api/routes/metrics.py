"""GET /metrics: the Prometheus text exposition of every metric in the default registry."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from app.observability import refresh_homework_jobs

__all__ = ["router"]

router = APIRouter(tags=["observability"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."}},
)
async def metrics(request: Request) -> Response:
    """Request counts and latencies by route, solve and model-call metrics, queue depth, homework jobs."""
    await asyncio.to_thread(refresh_homework_jobs, request.app.state.settings.grading_store_path)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
