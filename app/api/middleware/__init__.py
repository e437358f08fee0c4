"""Pure ASGI middleware of the service: request ids, access metrics and logs, API keys, backpressure."""

from app.api.middleware.access import AccessObserver, route_template, route_templates
from app.api.middleware.admission import AdmissionControl, AdmissionGate, Overloaded
from app.api.middleware.api_keys import OPEN_PATHS, OPEN_PREFIXES, ApiKeyAuth
from app.api.middleware.paths import route_path
from app.api.middleware.request_id import RequestId, sane_request_id

__all__ = [
    "OPEN_PATHS",
    "OPEN_PREFIXES",
    "AccessObserver",
    "AdmissionControl",
    "AdmissionGate",
    "ApiKeyAuth",
    "Overloaded",
    "RequestId",
    "route_path",
    "route_template",
    "route_templates",
    "sane_request_id",
]
