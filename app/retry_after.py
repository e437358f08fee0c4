"""Reading a `Retry-After` header, shared by the model client and the evaluation client."""

from __future__ import annotations

import datetime
import email.utils

import httpx

__all__ = ["retry_after_seconds"]


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header: delay-seconds or an HTTP-date (RFC 9110); None if absent or bad."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())
