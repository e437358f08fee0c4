"""Observability: Prometheus metrics of the service and structured JSON logs. Never imports FastAPI."""

from app.observability.homework import refresh_homework_jobs
from app.observability.logs import ACCESS_LOGGER, REQUEST_ID, JsonFormatter, log_config
from app.observability.model import MeteredModelClient
from app.observability.solves import observe_solve, observed

__all__ = [
    "ACCESS_LOGGER",
    "REQUEST_ID",
    "JsonFormatter",
    "MeteredModelClient",
    "log_config",
    "observe_solve",
    "observed",
    "refresh_homework_jobs",
]
