"""Warm the checker once per process: the first math-verify parse builds its ANTLR parser (~1 s).

The checker pool's forkserver preloads this module, so every worker forked from it starts warm; a cold
replacement worker would otherwise spend its first check's time bound on start-up and time out.
"""

from __future__ import annotations

__all__ = ["warm_up"]

_WARM = False
_SAMPLES = [
    ("x^2+2x+1", "(x+1)^2"),
    ("[1,2]", "[1,2)"),
    (r"\frac{\sqrt{3}}{2}", "0.8660"),
    (r"\begin{pmatrix}1&2\\3&4\end{pmatrix}", r"\begin{pmatrix}1&2\\3&4\end{pmatrix}"),
    ("5x-7y+11z+4=0", "-5x+7y-11z-4=0"),
    (r"\{1,2\}", "1,2"),
]


def warm_up() -> None:
    """Run a few representative checks (idempotent)."""
    global _WARM
    if _WARM:
        return
    from app.grading.checker import check

    for reference, answer in _SAMPLES:
        check(reference, answer)
    _WARM = True


# Forkserver preloading can only import modules, so importing this module warms the process.
warm_up()
