"""The path a request is routed by, for middleware that recognise routes before the router does.

Under an ASGI `root_path` (uvicorn's `--root-path`, `TIRSOLVE_ROOT_PATH`, or the app mounted as a
sub-application) `scope["path"]` is the full path, prefix included: uvicorn prepends its root path to the path
it received from the proxy, and a Starlette `Mount` passes the full path on with the matched prefix added to
`root_path`. The router strips that prefix before matching; middleware matching routes must strip it the same
way, or `/tirsolve/homework` is not `/homework` to them.
"""

from __future__ import annotations

from starlette.types import Scope

__all__ = ["route_path"]


def route_path(scope: Scope) -> str:
    """`scope["path"]` without the `root_path` prefix, as Starlette's router sees it (a path that does not
    start with the root path, as FastAPI's deprecated `root_path=` argument leaves it, is taken as is)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    rest = path[len(root) :]
    if not rest:
        return ""
    return rest if rest.startswith("/") else path
