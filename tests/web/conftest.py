"""Browser fixtures: Debian's Chromium driven by Playwright against a real service on the replay backend.

Playwright's own browser download is never used (`executable_path` points at the system Chromium). Without
Chromium the browser tests skip locally and fail under CI (env `CI` set), where .ci/run installs it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import ROOT, Proc, StartReplay, StartService

HERE = Path(__file__).resolve().parent
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
EXAMPLE_TRAJECTORIES = ROOT / "app" / "examples" / "trajectories.jsonl"
KEY_TRAJECTORIES = ROOT / "tests" / "grading" / "trajectories.jsonl"  # keys the example set's p7
HOSTILE_TRAJECTORIES = HERE / "data" / "hostile.jsonl"
HOMEWORK = ROOT / "app" / "examples" / "homework"
API_KEY = "web-key-0123456789abcdef"

# The machine has no network: without these Chromium keeps dialling out and floods refused connections.
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.fixture
def browser() -> Iterator[Browser]:
    """A browser per test: Playwright's sync API keeps an event loop running while it is open, which would
    break the pytest-asyncio tests that run after it in the same process."""
    executable = chromium_path()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed (apt-get install chromium); the web tests need it in CI")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=executable, args=LAUNCH_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="session")
def web_replay(start_replay: StartReplay) -> Proc:
    """Replay over the demo trajectories (plus the example homework's key and hostile text), streamed slowly
    enough that a page shows the trajectory before the answer arrives."""
    return start_replay(
        EXAMPLE_TRAJECTORIES,
        KEY_TRAJECTORIES,
        HOSTILE_TRAJECTORIES,
        extra=["--chunk-delay-ms", "4"],
    )


@pytest.fixture(scope="session")
def web_service(
    start_service: StartService, web_replay: Proc, tmp_path_factory: pytest.TempPathFactory
) -> Proc:
    store = tmp_path_factory.mktemp("web-jobs") / "jobs.sqlite3"
    # three key samples over the three recorded answers to "What is 6 times 7?" (42, 42, 41) give a 67% key,
    # below this review threshold: that problem is flagged `needs_review`
    return start_service(web_replay.url, grading_store_path=store, key_samples=3, review_threshold=0.9)


@pytest.fixture(scope="session")
def slow_service(start_replay: StartReplay, start_service: StartService) -> Proc:
    """A model that waits 3 s before every answer: time enough to press Stop or Cancel mid-way."""
    replay = start_replay(EXAMPLE_TRAJECTORIES, extra=["--latency-ms", "3000"])
    return start_service(replay.url, key_samples=1)


@contextmanager
def open_page(browser: Browser, base_url: str) -> Iterator[Page]:
    """A page in a fresh browser context (its own session storage) that fails the test on any script error
    or failed asset request."""
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []  # uncaught script errors and failed asset requests: a working page has none
    pg.on("pageerror", lambda exc: errors.append(f"script error: {exc}"))
    pg.on(
        "requestfailed",
        lambda req: (
            errors.append(f"request failed: {req.url} {req.failure}")
            if req.failure != "net::ERR_ABORTED"  # a fetch the page aborted itself (Stop)
            else None
        ),
    )
    pg.on(
        "response",
        lambda resp: (
            errors.append(f"HTTP {resp.status}: {resp.url}")
            if resp.status >= 400 and "/static/" in resp.url
            else None
        ),
    )
    yield pg
    context.close()
    assert not errors, errors


@pytest.fixture
def page(browser: Browser, web_service: Proc) -> Iterator[Page]:
    with open_page(browser, web_service.url) as pg:
        yield pg


@pytest.fixture(scope="session")
def keyed_service(
    start_service: StartService, web_replay: Proc, tmp_path_factory: pytest.TempPathFactory
) -> Proc:
    """The web service with TIRSOLVE_API_KEYS set: every API call the pages make needs `API_KEY`."""
    store = tmp_path_factory.mktemp("web-keyed-jobs") / "jobs.sqlite3"
    return start_service(web_replay.url, grading_store_path=store, key_samples=3, api_keys=API_KEY)


@pytest.fixture
def keyed_page(browser: Browser, keyed_service: Proc) -> Iterator[Page]:
    with open_page(browser, keyed_service.url) as pg:
        yield pg


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as a test artifact (artifacts/screenshots/NAME.png)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
