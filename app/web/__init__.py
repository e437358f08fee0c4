"""The web pages, as static files shipped in the package: no build step, no network (KaTeX is vendored).

`PAGES` holds the HTML documents, `STATIC` their scripts, styles and `vendor/katex`; `app.api.routes.web`
serves both. The pages talk to the service only through its public HTTP API (`/solve`, `/homework`).
"""

from pathlib import Path

__all__ = ["PAGES", "STATIC"]

_ROOT = Path(__file__).resolve().parent
PAGES = _ROOT / "pages"
STATIC = _ROOT / "static"
