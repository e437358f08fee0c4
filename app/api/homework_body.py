"""Reading a homework set from a request body off the event loop, and the body's OpenAPI description.

FastAPI would parse and validate the body on the event loop: ~0.4 s for 50,000 rows, every other request
waiting. Failures keep the shapes FastAPI gives them (415 for a body not sent as JSON, 400, 422).
"""

from __future__ import annotations

import asyncio
import email.message
import json
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from app.grading import HomeworkSet
from app.grading.models import validate_set

__all__ = ["SET_BODY_DOC", "read_homework_set"]


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its `$defs` written in place (the body is read by hand, so FastAPI does
    not list the model among the document's components for a `$ref` to point at)."""
    defs = schema.pop("$defs", {})

    def expand(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return expand(defs[ref.removeprefix("#/$defs/")])
            return {k: expand(v) for k, v in node.items()}
        if isinstance(node, list):
            return [expand(v) for v in node]
        return node

    return expand(schema)


SET_BODY_DOC = {
    "required": True,
    "content": {"application/json": {"schema": _inlined(HomeworkSet.model_json_schema())}},
}


async def read_homework_set(request: Request) -> HomeworkSet:
    """The body as a set, parsed in a worker thread and validated a slice of submissions at a time."""
    body = await request.body()
    if not body:
        raise RequestValidationError([_body_error("missing", "Field required", None)])
    if not _json_media(request.headers.get("content-type")):
        message = "Input should be a valid dictionary or object to extract fields from"
        raise RequestValidationError([_body_error("model_attributes_type", message, body)])
    try:
        data = await asyncio.to_thread(json.loads, body)
    except json.JSONDecodeError as exc:
        error = _body_error("json_invalid", "JSON decode error", {}) | {"loc": ("body", exc.pos)}
        raise RequestValidationError([error | {"ctx": {"error": exc.msg}}]) from exc
    except Exception as exc:  # not UTF-8, nested too deeply, too many digits: errors.py names the cause
        raise HTTPException(400, "There was an error parsing the body") from exc
    try:
        return await asyncio.to_thread(validate_set, data)
    except ValidationError:
        pass
    try:  # the whole set at once, so the errors name every field as FastAPI's would (a refusal is rare)
        return await asyncio.to_thread(HomeworkSet.model_validate, data)
    except ValidationError as exc:
        errors = [e | {"loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


def _body_error(kind: str, message: str, given: Any) -> dict[str, Any]:
    return {"type": kind, "loc": ("body",), "msg": message, "input": given}


def _json_media(content_type: str | None) -> bool:
    """Whether FastAPI would read a body of this type as JSON (application/json or application/*+json)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    json_subtype = subtype == "json" or subtype.endswith("+json")
    return message.get_content_maintype() == "application" and json_subtype
