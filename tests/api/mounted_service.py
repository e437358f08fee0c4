"""The service mounted as a sub-application under a path prefix, run as its own process by the tests.

`python -m tests.api.mounted_service PORT PREFIX` (from the project root; settings from the environment, as
for `tirsolve serve`). A Starlette app mounts `create_app()` at PREFIX and runs its lifespan, which a mount
does not: requests carry the prefix on the wire, and the mount adds it to the ASGI `root_path` while the
path keeps it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from app.api.app import create_app
from app.config import get_settings


def mounted(prefix: str) -> Starlette:
    service = create_app(get_settings())

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with service.router.lifespan_context(service):
            yield

    return Starlette(routes=[Mount(prefix, app=service)], lifespan=lifespan)


if __name__ == "__main__":
    port, prefix = int(sys.argv[1]), sys.argv[2]
    uvicorn.run(mounted(prefix), host="127.0.0.1", port=port, log_level="warning")
