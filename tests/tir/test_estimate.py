"""Our token estimate for fed-back text against real outputs: it must never count fewer tokens than Qwen2.5's
pre-tokenizer cuts the text into (each piece is at least one token), or a call could ask past the context."""

from __future__ import annotations

import json
import re

from app.tir.loop import estimate_tokens
from tests.conftest import SHARED_DATA

# The `pre_tokenizer` Split pattern of Qwen2.5's tokenizer.json, verbatim; Python's re has no \p{..}, so
# letters become [^\W\d_] and numbers \d (the pattern's [^...] classes are rewritten to match).
QWEN25_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
PIECES = re.compile(
    QWEN25_SPLIT.replace(r"[^\r\n\p{L}\p{N}]?", r"(?:[^\r\n\w]|_)?")
    .replace(r"[^\s\p{L}\p{N}]", r"(?:[^\s\w]|_)")
    .replace(r"\p{L}", r"[^\W\d_]")
    .replace(r"\p{N}", r"\d")
)


def real_outputs() -> list[str]:
    outputs: list[str] = []
    for name in ("tora-code-34b_gsm8k.jsonl", "tora-corpus_examples.jsonl"):
        for line in (SHARED_DATA / "traces" / name).read_text().splitlines():
            rec = json.loads(line)
            text = rec["code"][0] if "code" in rec else rec["messages"][-1]["content"]
            outputs += re.findall(r"```output\n(.*?)\n```", text, re.DOTALL)
    return outputs


def test_the_estimate_never_undercounts_real_execution_outputs():
    outputs = real_outputs()
    assert len(outputs) > 1300
    under = [o for o in outputs if estimate_tokens(o) < len(PIECES.findall(o))]
    assert under == []


def test_sympy_style_outputs_count_close_to_a_token_a_character():
    for text, pieces in [("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]", 31), ("{x: -1/2 + sqrt(3)*I/2}", 15)]:
        assert len(PIECES.findall(text)) == pieces
        assert estimate_tokens(text) >= pieces
