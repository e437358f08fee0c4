"""Grading: the answer checker (`check`, `CheckerPool`) and homework jobs (`HomeworkRunner`, reports).

Names are imported on first use: the checker pulls in sympy and math-verify (about a second), which
`tirsolve --help`, `tirsolve replay-llm` and code that needs only the homework models must not pay.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.grading.checker import check, check_many
    from app.grading.files import HomeworkFileError, load_homework
    from app.grading.jobs import HomeworkRunner, TooManyJobs
    from app.grading.keying import KeySolver, SolvedKey, solver_keyer
    from app.grading.models import (
        HomeworkSet,
        ItemVerdict,
        JobInfo,
        Problem,
        ProblemKey,
        Progress,
        Submission,
    )
    from app.grading.pool import CheckerPool
    from app.grading.report import Report, ReportFormat, build_report, render_report
    from app.grading.store import JobStore, SqliteJobStore
    from app.grading.verdict import Verdict

__all__ = [
    "CheckerPool",
    "HomeworkFileError",
    "HomeworkRunner",
    "HomeworkSet",
    "ItemVerdict",
    "JobInfo",
    "JobStore",
    "KeySolver",
    "Problem",
    "ProblemKey",
    "Progress",
    "Report",
    "ReportFormat",
    "SolvedKey",
    "SqliteJobStore",
    "Submission",
    "TooManyJobs",
    "Verdict",
    "build_report",
    "check",
    "check_many",
    "load_homework",
    "render_report",
    "solver_keyer",
]

# Each public name and the module that defines it.
_MODULES = {
    "check": "checker",
    "check_many": "checker",
    "HomeworkFileError": "files",
    "load_homework": "files",
    "HomeworkRunner": "jobs",
    "TooManyJobs": "jobs",
    "KeySolver": "keying",
    "SolvedKey": "keying",
    "solver_keyer": "keying",
    "HomeworkSet": "models",
    "ItemVerdict": "models",
    "JobInfo": "models",
    "Problem": "models",
    "ProblemKey": "models",
    "Progress": "models",
    "Submission": "models",
    "CheckerPool": "pool",
    "Report": "report",
    "ReportFormat": "report",
    "build_report": "report",
    "render_report": "report",
    "JobStore": "store",
    "SqliteJobStore": "store",
    "Verdict": "verdict",
}


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
