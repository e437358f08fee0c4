"""GET /healthz (the process is alive) and GET /readyz (model server and sandbox answer, and not draining)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.tir.errors import ModelError
from app.tir.model_client import ModelClient

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive: answers as long as the event loop runs."""
    return {"status": "ok"}


async def _model_check(client: ModelClient) -> dict[str, Any]:
    try:
        models = await client.list_models(timeout=3.0)
    except ModelError as exc:
        return {"ok": False, "url": client.base_url, "error": f"{exc.code}: {exc.message}"}
    return {"ok": True, "url": client.base_url, "models": models, "serves_model": client.model in models}


async def _sandbox_check(request: Request) -> dict[str, Any]:
    probe = request.app.state.sandbox_probe
    try:
        report = await asyncio.wait_for(probe(), timeout=5.0)
    except Exception as exc:  # any failure means "not ready", reported, never raised
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, **report}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Ready: the model server lists its models and the sandbox runs code and reports its layers. After
    SIGTERM: 503 `draining`, so a load balancer stops sending traffic while in-flight work finishes."""
    if request.app.state.draining:
        message = "shutting down: send new requests elsewhere; in-flight work is finishing"
        return JSONResponse({"status": "draining", "message": message}, status_code=503)
    model, sandbox = await asyncio.gather(
        _model_check(request.app.state.model_client), _sandbox_check(request)
    )
    ready = model["ok"] and sandbox["ok"]
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "model": model, "sandbox": sandbox},
        status_code=200 if ready else 503,
    )
