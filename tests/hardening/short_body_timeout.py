"""The service with a short request-body timeout, run as its own process by the tests (the default is a
minute): `python -m tests.hardening.short_body_timeout PORT SECONDS`, settings from the environment."""

from __future__ import annotations

import sys

import uvicorn

from app.api.app import create_app
from app.config import get_settings

if __name__ == "__main__":
    port, seconds = int(sys.argv[1]), float(sys.argv[2])
    uvicorn.run(create_app(get_settings(), body_timeout_s=seconds), host="127.0.0.1", port=port)
