"""The page's own modules, run in Chromium: CSV reading (as spreadsheets export it) and the highlighter."""

from __future__ import annotations

from playwright.sync_api import Page


def run_module(page: Page, module: str, expression: str, arg: object) -> object:
    page.goto("/")
    return page.evaluate(
        f"async (arg) => {{ const m = await import('/static/js/{module}'); return {expression}; }}", arg
    )


def test_csv_reads_quotes_newlines_bom_and_crlf(page: Page) -> None:
    text = '\ufeffstudent,problem_id,answer\r\nada,p1,"-2, 1"\r\nben,p2,"say ""hi""\nthere"\r\ncleo,p3,\r\n'
    records = run_module(page, "csv.js", "m.csvRecords(arg)", text)
    assert records == [
        {"student": "ada", "problem_id": "p1", "answer": "-2, 1"},
        {"student": "ben", "problem_id": "p2", "answer": 'say "hi"\nthere'},
        {"student": "cleo", "problem_id": "p3"},  # an empty cell is "not given"
    ]


def test_csv_errors_name_the_line(page: Page) -> None:
    message = run_module(
        page,
        "csv.js",
        "(() => { try { m.csvRecords(arg); return null } catch (e) { return e.message } })()",
        "id,problem\np1,a\np2,b,extra\n",
    )
    assert message == "line 3: more cells than header columns"


def test_highlighter_keeps_the_text_and_marks_tokens(page: Page) -> None:
    code = 'def f(x):  # square it\n    return x ** 2 + len("if") + 0x1F\n'
    spans = run_module(
        page,
        "highlight.js",
        "(() => { const d = document.createElement('pre'); d.append(m.highlightPython(arg));"
        " return {text: d.textContent, tokens: [...d.children].map(s => [s.className, s.textContent])} })()",
        code,
    )
    assert spans["text"] == code  # nothing lost or added
    assert spans["tokens"] == [
        ["tok-kw", "def"],
        ["tok-def", "f"],
        ["tok-comment", "# square it"],
        ["tok-kw", "return"],
        ["tok-num", "2"],
        ["tok-builtin", "len"],
        ["tok-str", '"if"'],
        ["tok-num", "0x1F"],
    ]
