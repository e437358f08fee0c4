"""The outcome of one execution, as returned to callers."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Status = Literal["ok", "error", "timeout", "memory", "output_limit", "killed"]
STATUSES: tuple[str, ...] = ("ok", "error", "timeout", "memory", "output_limit", "killed")


@dataclass(frozen=True)
class RunResult:
    """What happened when a block of code ran.

    ``error`` holds the traceback with host paths removed (empty when ``status`` is ``ok``);
    ``truncated`` says that stdout or stderr lost their middle part to the output cap.
    """

    status: Status
    stdout: str = ""
    stderr: str = ""
    error: str = ""
    truncated: bool = False
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        status = data.get("status")
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        return cls(
            status=status,
            stdout=str(data.get("stdout", "")),
            stderr=str(data.get("stderr", "")),
            error=str(data.get("error", "")),
            truncated=bool(data.get("truncated", False)),
            duration_ms=float(data.get("duration_ms", 0.0)),
        )
