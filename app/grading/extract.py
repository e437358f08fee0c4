"""Final-answer extraction from a bare answer or a worked solution.

Order of precedence (first that applies wins):
1. the content of the last ``\\boxed{...}`` (or ``\\fbox{...}``); boxes side by side at the end, with only
   commas, "and"/"or" or math delimiters between them, are one list (``\\boxed{2} and \\boxed{3}`` is
   ``2, 3``, the same box twice is one answer): the last box alone would let a hedge ``\\boxed{5} or
   \\boxed{7}`` pass for 7;
2. the text after the last marker: "final answer is", "the answer is", "Answer:", "Ans:", "A:" (at a line
   start), "####"; the last occurrence counts even inside an earlier one's line ("Final Answer: The final
   answer is $5$." is 5), and Markdown bold around it is dropped ("**Answer:** 5");
3. a bare answer: a single short line is taken whole, and so is a longer single line that is no prose (fewer
   than three words in a row: ``1+1+...+1``, a deeply nested root, whose last number is not the answer);
4. the last math expression of a worked solution: the last ``$...$``, ``\\(...\\)`` or ``\\[...\\]``
   segment, else the last number.
`None` means the text holds no answer.
"""

from __future__ import annotations

import re

__all__ = ["extract_answer", "last_boxed"]

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_MARKERS = [
    re.compile(r"final answer\s*(?:is|:)\s*[:=]?\s*(.+)", re.IGNORECASE),
    re.compile(r"\bthe answer is\s*[:=]?\s*(.+)", re.IGNORECASE),
    re.compile(r"^\s*(?:\**\s*)?(?:answer|ans\.?)\s*\**\s*[:：]\s*(.+)$", re.IGNORECASE | re.MULTILINE),
    re.compile(r"^\s*A\s*[:：]\s*(.+)$", re.MULTILINE),
    re.compile(r"####\s*(.+)"),
]
# Each marker behind a greedy prefix: matched from the start, it backtracks to the last marker in one pass.
_LAST = {marker: re.compile(rf"(?s:.*)(?:{marker.pattern})", marker.flags) for marker in _MARKERS}
# A \$ inside math is a dollar sign, not the segment's end: "$\$18$" is \$18.
_MATH_SEGMENT = re.compile(
    r"(?<!\\)\$\$(.+?)(?<!\\)\$\$|(?<!\\)\$(.+?)(?<!\\)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL
)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")
_BARE_MAX_CHARS = 120
# Three plain words in a row (not LaTeX commands): a line of prose, whose last number is its answer.
_PROSE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}\s+[A-Za-z]{2,}\s+[A-Za-z]{2,}")
# What may stand between two boxes of one list: commas, "and"/"or" (bare or in \text{}), delimiters, spacing.
_BOX_GAP = re.compile(
    r"^(?:[\s$,;&~]|\\[,;!]|\\q?quad|\\text\s*\{\s*(?:and|or|,)\s*\}|\b(?:and|or)\b|\\\(|\\\))*$"
)
_ELLIPSIS_END = re.compile(r"\d\s*\.{3}$")
_EMPTY = re.compile(r"^[\s.?!\-–—_*]*$")


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` in `text` (braces balanced), or None."""
    matches = list(_BOXED.finditer(text))
    for match in reversed(matches):
        content = _balanced(text, match.end())
        if content is not None:
            return content
    return None


def extract_answer(text: str | None) -> str | None:
    """The final answer inside `text`, stripped of math delimiters, or None when there is none."""
    if text is None:
        return None
    text = str(text).strip()
    if not text:
        return None
    boxed = _trailing_boxes(text)
    if boxed is not None:
        return _clean(boxed)
    for marker in _MARKERS:
        found = _last_match(marker, text)
        if found is not None:
            return _clean(_strip_sentence(found[1]))
    if "\n" not in text and (len(text) <= _BARE_MAX_CHARS or not _PROSE.search(text)):
        return _clean(text)
    return _clean(_last_expression(text))


def _trailing_boxes(text: str) -> str | None:
    """The last box's content, or the boxes at the end joined as a list when only `_BOX_GAP` separates
    them (repeats dropped); None when there is no box."""
    boxes: list[tuple[int, int, str]] = []  # (start, end, content) of the outermost boxes
    for match in _BOXED.finditer(text):
        if boxes and match.start() < boxes[-1][1]:
            continue  # a box inside a box: the outer one counts here
        content = _balanced(text, match.end())
        if content is not None:
            boxes.append((match.start(), match.end() + len(content) + 1, content))
    if len(boxes) < 2:
        return last_boxed(text)
    run = [boxes[-1][2]]
    for (_, end, content), (start, _, _) in zip(boxes[-2::-1], boxes[:0:-1], strict=True):
        if not _BOX_GAP.match(text[end:start]):
            break
        run.append(content)
    if len(run) == 1:
        return last_boxed(text)
    unique = list(dict.fromkeys(item.strip() for item in reversed(run)))
    return ", ".join(unique)


def _balanced(text: str, start: int) -> str | None:
    depth = 1
    for i in range(start, len(text)):
        ch = text[i]
        if ch == "\\":
            continue
        if ch == "{" and text[i - 1] != "\\":
            depth += 1
        elif ch == "}" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[start:i]
    return None


def _last_match(marker: re.Pattern[str], text: str) -> re.Match[str] | None:
    """The match starting last, overlaps included: findall's first match of "Final Answer: The final answer
    is $5$" swallows the line, so its last match was "The final answer is 5"."""
    return _LAST[marker].match(text)


def _strip_sentence(tail: str) -> str:
    tail = tail.strip().strip("*").strip()  # "**Answer:** 5", "Answer: **5**" (Markdown bold)
    # A marker line may go on with prose ("... is 5. I hope it is correct."); keep up to the sentence end.
    segment = _MATH_SEGMENT.match(tail)
    if segment:
        return next(g for g in segment.groups() if g is not None)
    cut = re.search(r"\.\s+[A-Z]", tail)
    tail = tail[: cut.start()] if cut else tail
    tail = tail.strip()
    if not _ELLIPSIS_END.search(tail):
        tail = tail.rstrip(".")
    return tail.strip().strip("*")  # "The answer is **5**." (bold, then the full stop)


def _last_expression(text: str) -> str | None:
    segments = _MATH_SEGMENT.findall(text)
    if segments:
        return next(g for g in segments[-1] if g)
    numbers = _NUMBER.findall(text)
    return numbers[-1] if numbers else None


def _clean(answer: str | None) -> str | None:
    if answer is None:
        return None
    answer = answer.strip()
    for opener, closer in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if answer.startswith(opener) and answer.endswith(closer) and len(answer) >= len(opener) + len(closer):
            answer = answer[len(opener) : len(answer) - len(closer)].strip()
    if not _ELLIPSIS_END.search(answer):  # "0.333..." keeps its ellipsis: a repeating decimal (`normalize`)
        answer = answer.rstrip(" .;").strip()
    if _EMPTY.match(answer):
        return None
    return answer
