"""Reading model text: closed ```python blocks, output blocks, and the last \\boxed{} answer."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

__all__ = [
    "OUTPUT_FENCE",
    "CodeBlock",
    "Segment",
    "find_last_code_block",
    "find_trailing_code_block",
    "last_boxed",
    "prose_before_open_code",
    "split_segments",
    "strip_output_blocks",
]

OUTPUT_FENCE = "```output"
# Qwen2.5-Math writes ```python; the other tags for it (```py, ```Python, ```python3) are runnable too
# \r\n line endings and fences indented as a whole (a block inside a list item) are blocks too
_PY_OPEN = re.compile(r"```(?:python3?|py)[ \t]*\r?\n", re.IGNORECASE)
_FENCE_CLOSE = re.compile(r"^[ \t]*```[ \t]*\r?$", re.MULTILINE)
_OUTPUT_BLOCK = re.compile(r"```output\n.*?(?:\n```(?:\n|$)|$)", re.DOTALL)
_BOXED = re.compile(r"\\(?:boxed|fbox)(?:\s*(\{)|[ \t]+([^\s${][^\s$]*))")  # \boxed{...} or \boxed 5


@dataclass(frozen=True, slots=True)
class CodeBlock:
    code: str
    start: int  # offset of the opening fence
    end: int  # offset just past the closing fence


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of model text: prose (`text`) or a fenced python block (`code`)."""

    type: str
    content: str


def _closed_blocks(text: str) -> list[CodeBlock]:
    blocks: list[CodeBlock] = []
    pos = 0
    while (m := _PY_OPEN.search(text, pos)) is not None:
        close = _FENCE_CLOSE.search(text, m.end())
        if close is None:
            break
        code = textwrap.dedent(text[m.end() : close.start()].replace("\r\n", "\n"))
        blocks.append(CodeBlock(code=code.rstrip("\n"), start=m.start(), end=close.end()))
        pos = close.end()
    return blocks


def find_trailing_code_block(text: str) -> CodeBlock | None:
    """The closed python block the text ends with (only whitespace after it), if any."""
    blocks = _closed_blocks(text)
    if blocks and not text[blocks[-1].end :].strip():
        return blocks[-1]
    return None


def find_last_code_block(text: str) -> CodeBlock | None:
    """The last closed python block, whatever follows it."""
    blocks = _closed_blocks(text)
    return blocks[-1] if blocks else None


def split_segments(text: str) -> list[Segment]:
    """Split model text into prose and closed python blocks, in order (unclosed code stays prose).

    Whitespace-only prose between blocks is dropped: it carries nothing a reader of the steps needs.
    """
    segments: list[Segment] = []
    pos = 0
    for block in _closed_blocks(text):
        if text[pos : block.start].strip():
            segments.append(Segment("text", text[pos : block.start]))
        segments.append(Segment("code", block.code))
        pos = block.end
    if text[pos:].strip():
        segments.append(Segment("text", text[pos:]))
    return segments


def prose_before_open_code(text: str) -> str:
    """Prose with a never-closed python block (cut by the token limit) and everything after it removed."""
    m = _PY_OPEN.search(text)
    return text[: m.start()] if m else text


def strip_output_blocks(text: str) -> str:
    """Remove ```output blocks so answers printed by code never count as the model's answer."""
    return _OUTPUT_BLOCK.sub("", text)


def last_boxed(text: str) -> str | None:
    """Content of the last non-empty ``\\boxed{...}`` in `text`, nested braces handled; None if absent.

    An unclosed box does not count; an empty one (``\\boxed{}``, the instruction quoted back) is skipped;
    ``\\boxed 5`` without braces is read up to the next space or ``$``, as the Qwen2.5-Math evaluation does,
    when it looks like an answer (a number, one symbol, a command): "the \\boxed notation" is prose.
    """
    found: str | None = None
    for m in _BOXED.finditer(text):
        content = _braced(text, m.end()) if m.group(1) else _unbraced(m.group(2))
        if content is not None and content.strip():
            found = content.strip()
    return found


def _unbraced(token: str) -> str | None:
    token = token.rstrip(".,;:")
    return token if len(token) == 1 or token.startswith("\\") or any(c.isdigit() for c in token) else None


def _braced(text: str, start: int) -> str | None:
    """Text from `start` up to the brace that closes the one before it; None if it is never closed."""
    depth, i = 1, start
    while i < len(text) and depth:
        ch = text[i]
        if ch == "\\":
            i += 2  # escaped char such as \{ never changes depth
            continue
        depth += ch == "{"
        depth -= ch == "}"
        i += 1
    return text[start : i - 1] if depth == 0 else None
