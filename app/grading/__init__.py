"""Grading: the answer checker (`check`, `CheckerPool`) and homework jobs (`HomeworkRunner`, reports)."""

from app.grading.checker import check, check_many
from app.grading.files import HomeworkFileError, load_homework
from app.grading.jobs import HomeworkRunner, TooManyJobs
from app.grading.keying import KeySolver, SolvedKey, solver_keyer
from app.grading.models import HomeworkSet, ItemVerdict, JobInfo, Problem, ProblemKey, Progress, Submission
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
