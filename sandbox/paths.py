"""Removing host paths from text that goes back to the caller (output, tracebacks, error messages)."""

from __future__ import annotations

import re
import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PathScrubber:
    """Rewrites ``<site-packages>/sympy/core/x.py`` as ``<sympy>/core/x.py`` (the directory alone as
    ``<site-packages>``), the stdlib as ``<stdlib>``, and any other known host prefix as ``<host>``."""

    site_dirs: tuple[str, ...]
    stdlib_dirs: tuple[str, ...]
    other_dirs: tuple[str, ...]

    @classmethod
    def for_this_interpreter(cls, extra: Iterable[str] = ()) -> PathScrubber:
        site = {p for p in sys.path if p.endswith(("site-packages", "dist-packages"))}
        stdlib = {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]}
        stdlib |= {p for p in sys.path if p.endswith("lib-dynload")}
        other = {sys.prefix, sys.base_prefix, sys.exec_prefix, *extra}
        return cls(_longest_first(site), _longest_first(stdlib), _longest_first(other))

    def scrub(self, text: str) -> str:
        for prefix in self.site_dirs:
            if prefix in text:  # most output holds no path: skip the regex
                text = re.sub(re.escape(prefix) + r"/([^/\s\"']+)", r"<\1>", text)
                text = text.replace(prefix, "<site-packages>")  # the directory itself (sys.path)
        for prefix in self.stdlib_dirs:
            text = text.replace(prefix, "<stdlib>")
        for prefix in self.other_dirs:
            text = text.replace(prefix, "<host>")
        return text


def _longest_first(paths: Iterable[str]) -> tuple[str, ...]:
    cleaned = {str(Path(p)) for p in paths if p and p != "/"}
    return tuple(sorted(cleaned, key=len, reverse=True))
