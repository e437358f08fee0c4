"""The replay model server, answering problems it has no recording for with one fixed trajectory.

`python tests/hardening/catchall_model.py PORT TRACES.jsonl`. For the schemathesis run: generated problems
are arbitrary text, which a plain replay server refuses with 404 (the service then answers 503, correctly);
here they get a short TIR trajectory (one code block, then a boxed answer), so every generated request
exercises the whole loop: model calls, the sandbox, voting.
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from app.tir.replay import ReplayBook, ReplayTurn, segments
from app.tir.replay_server import ReplayOptions, create_replay_app

FALLBACK = (
    "Let me compute.\n\n```python\nprint(6 * 7)\n```\n```output\n42\n```\nSo the answer is $\\boxed{42}$."
)


class CatchAllBook(ReplayBook):
    def lookup(self, turn: ReplayTurn, seed: int = 0) -> list[str] | None:
        return super().lookup(turn, seed) or segments(FALLBACK)


def main(port: int, traces: Path) -> None:
    book = CatchAllBook.from_files([traces])
    app = create_replay_app(book, ReplayOptions(model="replay", context_length=4096))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
