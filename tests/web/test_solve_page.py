"""The solve page in Chromium: a streamed trajectory becomes prose with typeset math, highlighted code,
sandbox outputs with their status, and a typeset boxed answer (with a votes table for several samples)."""

from __future__ import annotations

import json

from playwright.sync_api import Page, expect

from tests.conftest import Proc
from tests.web.conftest import EXAMPLE_TRAJECTORIES, screenshot


def example(problem_start: str) -> dict:
    for line in EXAMPLE_TRAJECTORIES.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["problem"].startswith(problem_start):
            return record
    raise LookupError(problem_start)


def solve(page: Page, problem: str, samples: int = 1) -> None:
    page.goto("/")
    page.get_by_role("textbox", name="Problem").fill(problem)
    page.get_by_role("spinbutton", name="Samples").fill(str(samples))
    page.get_by_role("button", name="Solve").click()


def test_solve_shows_the_trajectory_and_the_typeset_answer(page: Page) -> None:
    record = example("Find the sum of all positive divisors")
    solve(page, record["problem"])

    answer = page.locator("#answer")
    expect(answer.locator(".katex")).to_be_visible(timeout=30_000)
    expect(answer.locator(".katex-html")).to_contain_text(record["answer"])
    expect(page.locator("#solve-status")).to_contain_text("Answered")

    sample = page.locator(".sample").first
    code = sample.locator("pre.code")
    expect(code).to_have_count(1)
    expect(code).to_contain_text("divisor_sigma(360)")
    expect(code.locator(".tok-kw", has_text="import")).to_have_count(1)
    expect(code.locator(".tok-builtin", has_text="print")).to_have_count(1)
    output = sample.locator("figure.output")
    expect(output.locator(".badge")).to_have_text("ok")
    expect(output.locator("pre")).to_have_text("1170 1170")  # printed by the real sandbox
    expect(sample.locator(".prose .katex").last).to_contain_text("1170")  # the prose's \boxed{} typeset
    expect(sample.locator(".sample-state")).to_have_text("answered")
    expect(sample.locator(".sample-meta")).to_contain_text("1 code run ·")
    expect(page.locator("table.votes")).to_have_count(0)
    # KaTeX's own fonts came from the package (the machine has no network)
    loaded = page.evaluate(
        "document.fonts.ready.then(() => [...document.fonts]"
        ".filter(f => f.family.includes('KaTeX_Main') && f.status === 'loaded').length)"
    )
    assert loaded >= 1
    screenshot(page, "solve-answer")


def test_the_trajectory_is_drawn_while_it_streams(page: Page, slow_service: Proc) -> None:
    # The model waits 3 s before each answer: round 2 (with the answer) cannot arrive with round 1's code.
    record = example("What is the remainder when $2^{100}$")
    page.goto(slow_service.url + "/")
    page.get_by_role("textbox", name="Problem").fill(record["problem"])
    page.keyboard.press("Control+Enter")  # the keyboard path submits too
    # the first round's code block shows up before the final answer exists
    first_code = page.locator(".sample pre.code").first
    expect(first_code).to_contain_text("pow(2, 100, 7)", timeout=30_000)
    assert page.locator("#answer .katex").count() == 0
    expect(page.locator("#trajectories")).to_have_attribute("aria-busy", "true")
    expect(page.locator("#answer .katex")).to_be_visible(timeout=30_000)
    expect(page.locator("#answer .katex-html")).to_have_text(record["answer"])
    expect(page.locator("#trajectories")).to_have_attribute("aria-busy", "false")
    outputs = page.locator(".sample figure.output pre")
    expect(outputs).to_have_text(["2", "[2, 4, 1, 2, 4, 1] 1 True"])  # the second block reused `r`
    expect(page.locator(".sample .sample-meta")).to_contain_text("2 code runs")


def test_failed_execution_shows_an_error_badge_then_recovers(page: Page) -> None:
    record = example("Solve for $x$")
    solve(page, record["problem"])
    expect(page.locator("#answer .katex")).to_be_visible(timeout=30_000)
    badges = page.locator(".sample figure.output .badge")
    expect(badges).to_have_text(["error", "ok"])
    expect(page.locator(".sample figure.output-error pre")).to_contain_text("NameError")
    expect(page.locator("#answer .katex-html")).to_have_text(record["answer"])
    # the problem preview typesets the LaTeX of the problem box
    expect(page.locator("#problem-preview .katex").first).to_be_visible()
    screenshot(page, "solve-error-then-ok")


def test_several_samples_show_a_votes_table(page: Page) -> None:
    record = example("Find the sum of all positive divisors")
    solve(page, record["problem"], samples=3)
    table = page.locator("table.votes")
    expect(table).to_be_visible(timeout=30_000)
    expect(table.locator("caption")).to_have_text("Votes over 3 samples")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator("tbody tr.winner td").nth(1)).to_have_text("3")
    expect(table.locator("tbody tr.winner .katex-html")).to_have_text(record["answer"])
    expect(page.locator(".sample")).to_have_count(3)
    expect(page.locator(".sample .sample-state")).to_have_text(["answered"] * 3)
    expect(page.locator("#solve-status")).to_contain_text("100% of 3 samples agree")
    screenshot(page, "solve-votes")


def test_hostile_model_text_is_shown_as_text_and_never_runs(page: Page) -> None:
    problem = 'Hostile probe: what is <b>1+1</b>? <img src=x onerror="window.__pwned=6">'
    solve(page, problem)
    expect(page.locator("#solve-status")).to_contain_text("Answered", timeout=30_000)
    # not valid LaTeX: KaTeX shows the source as text (an error span), it is not parsed as HTML
    expect(page.locator("#answer .katex-error")).to_contain_text("<img src=x onerror=window.__pwned=5>")
    assert page.evaluate("window.__pwned") is None
    main = page.locator("main")
    expect(main.locator("img, script, b, iframe, a[href^='javascript']")).to_have_count(0)
    sample = page.locator(".sample").first
    expect(sample.locator(".prose").first).to_contain_text('<img src=x onerror="window.__pwned=1">')
    expect(sample.locator(".prose").first).to_contain_text("<script>window.__pwned=2</script>")
    expect(sample.locator("figure.output pre")).to_have_text('<img src=x onerror="window.__pwned=4">')
    expect(page.locator("#answer .answer-source code")).to_have_text("2<img src=x onerror=window.__pwned=5>")
    expect(page.locator("#problem-preview")).to_contain_text("<b>1+1</b>")
    screenshot(page, "solve-hostile")


def test_invalid_options_are_named_and_nothing_is_sent(page: Page) -> None:
    page.goto("/")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if r.url.endswith("/solve") else None)
    page.get_by_role("textbox", name="Problem").fill("What is 1+1?")
    page.get_by_role("spinbutton", name="Samples").fill("40")
    page.get_by_role("button", name="Solve").click()
    expect(page.get_by_role("alert")).to_have_text("Samples: a whole number from 1 to 32.")
    expect(page.get_by_role("spinbutton", name="Samples")).to_have_attribute("aria-invalid", "true")
    assert requests == []


def test_a_service_error_is_shown_with_its_message(page: Page) -> None:
    solve(page, "A problem the replay model has never seen.")
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible(timeout=30_000)
    # the SSE `error` event's message: the replay model refused a problem it has no recording of
    expect(alert).to_contain_text("no recorded trajectory")
    expect(page.locator(".sample .sample-state")).to_have_text("stopped")
    expect(page.get_by_role("button", name="Solve")).to_be_enabled()
    expect(page.locator("#answer .katex")).to_have_count(0)


def test_the_form_is_usable_from_the_keyboard(page: Page) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    page.get_by_role("button", name="divisors of 360").focus()
    page.keyboard.press("Enter")  # an example fills the problem box and hands focus to it
    problem = page.get_by_role("textbox", name="Problem")
    expect(problem).to_be_focused()
    expect(problem).to_have_value(example("Find the sum of all positive divisors")["problem"])
    while not page.get_by_role("button", name="Solve").evaluate("b => b === document.activeElement"):
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#answer .katex")).to_be_visible(timeout=30_000)


def test_stop_aborts_the_solve(page: Page, slow_service: Proc) -> None:
    record = example("What is the remainder when $2^{100}$")
    page.goto(slow_service.url + "/")
    page.get_by_role("textbox", name="Problem").fill(record["problem"])
    page.get_by_role("button", name="Solve").click()
    expect(page.locator("#solve-status")).to_have_text("Solving…")
    page.get_by_role("button", name="Stop").click()
    expect(page.locator("#solve-status")).to_have_text("Stopped.")
    expect(page.get_by_role("button", name="Solve")).to_be_enabled()
    expect(page.get_by_role("button", name="Stop")).to_be_disabled()
    expect(page.locator(".sample .sample-state")).to_have_text("stopped")
    page.wait_for_timeout(3500)  # the model's first answer would have arrived by now: nothing is drawn
    expect(page.locator(".sample pre.code")).to_have_count(0)
    expect(page.locator("#answer .katex")).to_have_count(0)


def test_a_narrow_screen_needs_no_sideways_scrolling(page: Page) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    record = example("Solve for $x$")
    solve(page, record["problem"])
    expect(page.locator("#answer .katex")).to_be_visible(timeout=30_000)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"
    screenshot(page, "solve-narrow")
