"""The pages against a service with TIRSOLVE_API_KEYS set: a 401 opens the key form with a clear message,
the key (kept in sessionStorage) goes with every call as `Authorization: Bearer`, downloads included; the
page icon needs no key."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, expect

from tests.conftest import Proc
from tests.web.conftest import API_KEY, HOMEWORK, screenshot
from tests.web.test_homework_page import job_id, wait_for_report
from tests.web.test_solve_page import example

NEEDED = "This server needs an API key"
STORAGE_KEY = "tirsolve.api-key"


def key_alert(page: Page):
    return page.locator("details.api-key").get_by_role("alert")


def icon_requests(service: Proc) -> list[tuple[str, int]]:
    """(path, status) of the page-icon requests in the service's access log: the icon the pages declare, or
    the /favicon.ico a browser asks for when a page declares none."""
    found = []
    for line in service.log.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"path": "/' in line and "favicon" in line:
            entry = json.loads(line)
            if entry.get("path") in ("/favicon.ico", "/static/favicon.svg"):
                found.append((entry["path"], entry["status"]))
    return found


def use_key(page: Page, key: str) -> None:
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_role("button", name="Use key").click()


def test_solve_page_asks_for_the_key_and_streams_once_it_has_the_right_one(keyed_page: Page) -> None:
    page = keyed_page
    record = example("Find the sum of all positive divisors")
    solves: list[Request] = []
    page.on("request", lambda r: solves.append(r) if r.url.endswith("/solve") else None)
    page.goto("/")
    expect(page.get_by_label("API key", exact=True)).to_be_hidden()  # folded away until a call needs it
    page.get_by_role("textbox", name="Problem").fill(record["problem"])

    # no key: the key form opens with the 401 message; no generic error, no answer
    page.get_by_role("button", name="Solve").click()
    expect(key_alert(page)).to_contain_text(NEEDED)
    expect(page.get_by_label("API key", exact=True)).to_be_focused()
    expect(page.locator("#form-error")).to_be_hidden()
    expect(page.locator("#result")).to_be_hidden()
    expect(page.locator("#answer .katex")).to_have_count(0)
    expect(page.get_by_role("button", name="Solve")).to_be_enabled()

    # a wrong key: the 401 message again, saying the key was refused
    use_key(page, "not-the-key")
    expect(key_alert(page)).to_be_hidden()
    page.get_by_role("button", name="Solve").click()
    expect(key_alert(page)).to_contain_text(NEEDED)
    expect(key_alert(page)).to_contain_text("not accepted")
    screenshot(page, "solve-api-key-refused")
    expect(page.locator("#form-error")).to_be_hidden()
    expect(page.locator("#answer .katex")).to_have_count(0)

    # the right key: the trajectory streams in and ends with the typeset boxed answer
    use_key(page, API_KEY)
    expect(page.locator("details.api-key summary")).to_contain_text("set for this tab")
    page.get_by_role("button", name="Solve").click()
    expect(page.locator("#answer .katex-html")).to_contain_text(record["answer"], timeout=30_000)
    expect(page.locator(".sample pre.code")).to_contain_text("divisor_sigma(360)")
    expect(page.locator("#solve-status")).to_contain_text("Answered")
    expect(key_alert(page)).to_be_hidden()

    sent = [r.all_headers().get("authorization") for r in solves]
    assert sent == [None, "Bearer not-the-key", f"Bearer {API_KEY}"]
    # the key lives in this tab's session storage only, and outlives a reload of the page
    assert page.evaluate(f"sessionStorage.getItem('{STORAGE_KEY}')") == API_KEY
    assert page.evaluate("localStorage.length") == 0
    page.reload()
    expect(page.locator("details.api-key summary")).to_contain_text("set for this tab")


def test_homework_page_with_a_key_grades_and_downloads_the_report(
    keyed_page: Page, keyed_service: Proc, tmp_path: Path
) -> None:
    page = keyed_page
    page.goto("/homework.html")
    # the recent-jobs list is fetched on arrival: its 401 opens the key form at once
    expect(key_alert(page)).to_contain_text(NEEDED)
    use_key(page, API_KEY)
    expect(page.locator("#recent-jobs li").first).to_be_visible()  # fetched again, with the key

    page.get_by_label("Homework set or problems", exact=True).set_input_files(HOMEWORK / "homework.json")
    page.get_by_role("button", name="Grade").click()
    wait_for_report(page)
    job = job_id(page)
    auth = {"Authorization": f"Bearer {API_KEY}"}
    base = f"{keyed_service.url}/homework/{job}/report"
    report = httpx.get(base, params={"format": "json"}, headers=auth, timeout=30).json()
    expect(page.locator("table.scores tbody tr")).to_have_count(len(report["students"]))

    # downloads: fetched with the key, saved from a Blob under the report's name
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    csv_file = info.value
    assert csv_file.suggested_filename == f"report-{job}.csv"
    csv_text = Path(csv_file.path()).read_text(encoding="utf-8")
    assert csv_text.startswith("student,problem_id,answer")
    assert csv_text == httpx.get(base, params={"format": "csv"}, headers=auth, timeout=30).text

    with page.expect_download() as info:
        page.get_by_role("link", name="Download JSON").click()
    assert info.value.suggested_filename == f"report-{job}.json"
    downloaded = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
    assert downloaded["job"]["id"] == job and downloaded["students"] == report["students"]

    # the printable report opens in a new tab, from a Blob URL
    with page.context.expect_page() as info:
        page.get_by_role("link", name="Printable HTML").click()
    tab = info.value
    tab.wait_for_load_state()
    assert tab.url.startswith("blob:")
    title = json.loads((HOMEWORK / "homework.json").read_text())["title"]
    expect(tab.locator("body")).to_contain_text(title)
    expect(tab.locator("body")).to_contain_text(report["students"][0]["student"])
    tab.close()
    expect(page.locator("#form-error")).to_be_hidden()

    # with the key forgotten a download asks for it again instead of saving an error page
    page.get_by_role("button", name="Forget key").click()  # the key form stayed open since the key was given
    assert page.evaluate(f"sessionStorage.getItem('{STORAGE_KEY}')") is None
    page.get_by_role("link", name="Download CSV").click()
    expect(key_alert(page)).to_contain_text(NEEDED)
    expect(page.locator("#form-error")).to_be_hidden()


@pytest.mark.parametrize("path", ["/", "/homework.html"])
def test_the_page_icon_loads_without_a_key(keyed_page: Page, keyed_service: Proc, path: str) -> None:
    page = keyed_page
    errors: list[str] = []  # where each console error comes from

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.location.get("url", ""))

    page.on("console", on_console)
    before = len(icon_requests(keyed_service))
    page.goto(path)
    # the browser asks for the icon after the page has loaded: the declared one, allowed by the page's CSP
    # (img-src 'self'), not a guessed /favicon.ico that a keyed service refuses with 401
    deadline = time.monotonic() + 15
    while len(icon_requests(keyed_service)) == before:
        assert time.monotonic() < deadline, "the browser asked for no page icon"
        time.sleep(0.1)
    assert set(icon_requests(keyed_service)[before:]) == {("/static/favicon.svg", 200)}
    assert not [url for url in errors if "favicon" in url], errors
    if path == "/":  # the solve page calls no API before Solve is pressed: nothing at all fails
        assert errors == []
    icon = httpx.get(f"{keyed_service.url}/static/favicon.svg", timeout=15)
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
