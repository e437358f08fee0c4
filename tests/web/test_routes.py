"""The pages and their static files over HTTP: served from the package, offline, with a strict CSP."""

from __future__ import annotations

import re

import httpx
import pytest

from app.web import PAGES, STATIC
from tests.conftest import Proc

KATEX = STATIC / "vendor" / "katex"


@pytest.fixture
def http(web_service: Proc) -> httpx.Client:
    with httpx.Client(base_url=web_service.url, timeout=30) as c:
        yield c


@pytest.mark.parametrize("path", ["/", "/homework.html"])
def test_pages_are_html_with_a_script_policy(http: httpx.Client, path: str) -> None:
    r = http.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-eval" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert '<html lang="en">' in r.text and "<main" in r.text


def test_every_asset_a_page_names_is_served(http: httpx.Client) -> None:
    for page in ("/", "/homework.html"):
        html = http.get(page).text
        # relative links, so that the pages also work behind a proxy under a path prefix
        assets = re.findall(r'(?:src|href)="(static/[^"]+)"', html)
        assert len(assets) >= 4
        for asset in assets:
            r = http.get(f"/{asset}")
            assert r.status_code == 200, asset
            assert r.content
    js = http.get("/static/js/solve-page.js")
    assert "javascript" in js.headers["content-type"]


def test_katex_fonts_named_by_its_stylesheet_are_vendored(http: httpx.Client) -> None:
    css = (KATEX / "katex.min.css").read_text()
    fonts = set(re.findall(r"url\((fonts/[^)]+)\)", css))
    assert len(fonts) >= 20
    for font in fonts:
        assert (KATEX / font).is_file(), font
    woff2 = next(f for f in sorted(fonts) if f.endswith(".woff2"))
    assert http.get(f"/static/vendor/katex/{woff2}").status_code == 200
    assert "MIT" in (KATEX / "LICENSE").read_text()


def test_nothing_is_loaded_from_another_origin() -> None:
    own = [*PAGES.glob("*.html"), *(STATIC / "js").glob("*.js"), *(STATIC / "css").glob("*.css")]
    assert own
    for path in own:
        text = path.read_text()
        assert not re.search(r"""(?:src|href|url)\s*[=(]\s*["']?(?:https?:)?//""", text), path
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text, path


@pytest.mark.parametrize(
    "path", ["/static/../config.py", "/static/%2e%2e/%2e%2e/config.py", "/static/nope.js", "/static/"]
)
def test_paths_outside_the_static_files_are_not_found(http: httpx.Client, path: str) -> None:
    r = http.get(path)
    assert r.status_code == 404
    assert "Traceback" not in r.text


def test_example_homework_files_are_downloadable(http: httpx.Client) -> None:
    r = http.get("/examples/homework/problems.csv")
    assert r.status_code == 200
    assert r.text.startswith("id,problem,reference,points")
    assert http.get("/examples/homework/../../config.py").status_code == 404


def test_the_pages_stay_out_of_the_api_schema(http: httpx.Client) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    assert "/" not in paths and not any(p.startswith("/static") for p in paths)
