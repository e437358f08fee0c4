"""System prompts and the Qwen2.5 ChatML rendering used in `completions` mode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "COT_SYSTEM_PROMPT",
    "TIR_SYSTEM_PROMPT",
    "Conversation",
    "Mode",
    "render_chatml",
    "system_prompt_for",
]

Mode = Literal["tir", "cot"]

TIR_SYSTEM_PROMPT = (
    "Please integrate natural language reasoning with programs to solve the problem above, "
    "and put your final answer within \\boxed{}."
)
COT_SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."

_SYSTEM_PROMPTS: dict[str, str] = {"tir": TIR_SYSTEM_PROMPT, "cot": COT_SYSTEM_PROMPT}


def system_prompt_for(mode: Mode, custom: str | None = None) -> str:
    """The request's own system prompt wins; otherwise the one Qwen2.5-Math was evaluated with."""
    return custom if custom is not None else _SYSTEM_PROMPTS[mode]


@dataclass(frozen=True, slots=True)
class Conversation:
    """One trajectory's conversation: a fixed system + user turn and a growing assistant turn."""

    system: str
    user: str
    assistant: str = ""

    def extended(self, text: str) -> Conversation:
        return Conversation(self.system, self.user, self.assistant + text)

    def messages(self) -> list[dict[str, str]]:
        """Chat-API messages; the partial assistant turn is last (for `continue_final_message`)."""
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.user},
            {"role": "assistant", "content": self.assistant},
        ]


def render_chatml(conv: Conversation) -> str:
    """Qwen2.5 ChatML with an open assistant turn; growing `assistant` only ever appends bytes."""
    return (
        f"<|im_start|>system\n{conv.system}<|im_end|>\n"
        f"<|im_start|>user\n{conv.user}<|im_end|>\n"
        f"<|im_start|>assistant\n{conv.assistant}"
    )
