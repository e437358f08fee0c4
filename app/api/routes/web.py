"""The web pages: the solve page at `/`, the homework page, their static files, the example homework set."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles

from app.web import PAGES, STATIC

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "homework"
_static = StaticFiles(directory=STATIC)
_examples = StaticFiles(directory=_EXAMPLES)

# Scripts only from our own origin: model output and student answers are hostile, so even a slip into
# innerHTML must not run. KaTeX sets inline styles, hence 'unsafe-inline' for styles only.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _page(name: str) -> FileResponse:
    return FileResponse(PAGES / name, media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)


@router.api_route("/", methods=["GET", "HEAD"])
async def solve_page() -> FileResponse:
    return _page("index.html")


@router.api_route("/homework.html", methods=["GET", "HEAD"])
async def homework_page() -> FileResponse:
    return _page("homework.html")


@router.api_route("/static/{path:path}", methods=["GET", "HEAD"])
async def static_file(path: str, request: Request) -> Response:
    """Scripts, styles and vendored KaTeX (StaticFiles refuses paths that leave the directory)."""
    response = await _static.get_response(path, request.scope)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@router.api_route("/examples/homework/{name}", methods=["GET", "HEAD"])
async def example_homework(name: str, request: Request) -> Response:
    """The example homework set in each format, as templates a teacher can download and fill in."""
    return await _examples.get_response(name, request.scope)
