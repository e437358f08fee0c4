"""`MeteredModelClient`: the model client, timing each call and counting its tokens and outcome."""

from __future__ import annotations

import time

from app.observability.metrics import MODEL_CALL_SECONDS, MODEL_CALLS, MODEL_TOKENS
from app.tir.errors import ModelError
from app.tir.model_client import Completion, DeltaSink, ModelClient, SamplingParams
from app.tir.prompt import Conversation

__all__ = ["MeteredModelClient"]


class MeteredModelClient(ModelClient):
    async def complete(
        self, conv: Conversation, params: SamplingParams, on_delta: DeltaSink | None = None
    ) -> Completion:
        started = time.perf_counter()
        try:
            comp = await super().complete(conv, params, on_delta)
        except ModelError as exc:
            MODEL_CALLS.labels(exc.code).inc()
            raise
        finally:
            MODEL_CALL_SECONDS.observe(time.perf_counter() - started)
        MODEL_CALLS.labels("ok").inc()
        if comp.prompt_tokens is not None:
            MODEL_TOKENS.labels("prompt").inc(comp.prompt_tokens)
        if comp.completion_tokens is not None:
            MODEL_TOKENS.labels("completion").inc(comp.completion_tokens)
        return comp
