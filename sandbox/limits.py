"""Resource limits applied to every execution."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Per-execution limits, enforced by the server and the kernel.

    ``memory_mb`` is address space *beyond* the preloaded interpreter image (RLIMIT_AS is set to
    the image size plus this). ``file_size_mb`` caps any single file, including the captured
    stdout and stderr (RLIMIT_FSIZE): reaching it gives status ``output_limit``. ``output_kb`` is how
    much of each stream comes back (head and tail halves around a truncation marker).
    """

    timeout: float = 10.0
    cpu_seconds: int = 10
    memory_mb: int = 1024
    file_size_mb: int = 8
    output_kb: int = 64
    open_files: int = 64
    processes: int = 16
    tmp_size_mb: int = 16
    max_code_kb: int = 256
    session_idle: float = 300.0
    session_total: float = 1800.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"limit {f.name} must be a positive number, got {value!r}")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> Limits:
        unknown = sorted(set(kwargs) - set(cls.names()))
        if unknown:
            raise TypeError(
                f"unknown sandbox limit(s): {', '.join(unknown)}; known: {', '.join(cls.names())}"
            )
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_cli_args(self) -> list[str]:
        args: list[str] = []
        for name, value in self.to_dict().items():
            if value != getattr(DEFAULT_LIMITS, name):
                args += [f"--{name.replace('_', '-')}", str(value)]
        return args


DEFAULT_LIMITS = Limits()
