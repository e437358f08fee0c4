"""Streaming text assembly: stop strings split across chunks, echoed prefills, safe deltas."""

from __future__ import annotations

import pytest

from app.tir.model_client import _TextAssembler


async def assemble(prefill: str, pieces: list[str]) -> tuple[str, list[str], bool]:
    deltas: list[str] = []

    async def sink(d: str) -> None:
        deltas.append(d)

    asm = _TextAssembler(prefill, sink)
    for p in pieces:
        await asm.feed(p)
    await asm.flush()
    return asm.text, deltas, asm.stopped


async def test_stop_string_split_across_chunks_is_never_emitted():
    text, deltas, stopped = await assemble("", ["print(x)\n``", "`\n``", "`out", "put\n42\n```\nmore"])
    assert text == "print(x)\n```\n" and stopped
    assert "".join(deltas) == text


@pytest.mark.parametrize("stop", ["<|im_end|>", "<|endoftext|>"])
async def test_end_tokens_cut_the_text(stop):
    text, deltas, _ = await assemble("", ["The answer is 4.", stop[:3], stop[3:], "junk"])
    assert text == "The answer is 4." and "".join(deltas) == text


async def test_echoed_prefill_is_removed_even_when_split():
    prefill = "Earlier text.\n```output\n3\n```\n"
    text, deltas, _ = await assemble(prefill, [prefill[:5], prefill[5:20], prefill[20:] + "New", " words."])
    assert text == "New words." and "".join(deltas) == text


async def test_text_that_merely_starts_like_the_prefill_is_kept():
    text, _, _ = await assemble("Earlier text.", ["Earl", "y birds."])
    assert text == "Early birds."
    text, _, _ = await assemble("Earlier text.", ["Earl"])  # ended before it could be an echo
    assert text == "Earl"
