"""The outcome of one answer check."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# Machine-stable reason codes. Clients switch on these; the message is for humans.
EQUAL_REASONS = frozenset(
    {
        "equal_string",
        "equal_choice",
        "equal_text",
        "equal_numeric",
        "equal_decimal",
        "equal_symbolic",
    }
)
NOT_EQUAL_REASONS = frozenset(
    {"not_equal", "not_simplified", "no_answer", "no_reference", "parse_error", "timeout", "error"}
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether `answer` is equivalent to `reference`, and why.

    `reason` is a short code from `EQUAL_REASONS | NOT_EQUAL_REASONS`; `message` explains it.
    `reference_parsed` / `answer_parsed` are the final answers the checker extracted and compared.
    """

    equivalent: bool
    reason: str
    message: str = ""
    reference_parsed: str | None = None
    answer_parsed: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
