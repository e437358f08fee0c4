"""Tool-integrated reasoning core: prompts, model client, the loop, voting, replay. Never imports FastAPI."""

from app.tir.errors import (
    DeadlineExceeded,
    ModelBadResponse,
    ModelContextExceeded,
    ModelError,
    ModelRejected,
    ModelServerError,
    ModelTimeout,
    ModelUnavailable,
    ProblemTooLong,
    SandboxUnavailable,
    SolveError,
)
from app.tir.loop import LoopLimits, run_trajectory
from app.tir.model_client import Completion, ModelClient, SamplingParams
from app.tir.prompt import COT_SYSTEM_PROMPT, TIR_SYSTEM_PROMPT, Conversation, render_chatml
from app.tir.recorder import TrajectoryRecorder
from app.tir.solver import Solver, SolveRequest
from app.tir.trace import Sample, SolveResult, Step, Timing, Usage, Vote
from app.tir.voting import Equivalence, normalized_equivalent, vote

__all__ = [
    "COT_SYSTEM_PROMPT",
    "TIR_SYSTEM_PROMPT",
    "Completion",
    "Conversation",
    "DeadlineExceeded",
    "Equivalence",
    "LoopLimits",
    "ModelBadResponse",
    "ModelClient",
    "ModelContextExceeded",
    "ModelError",
    "ModelRejected",
    "ModelServerError",
    "ModelTimeout",
    "ModelUnavailable",
    "ProblemTooLong",
    "Sample",
    "SamplingParams",
    "SandboxUnavailable",
    "SolveError",
    "SolveRequest",
    "SolveResult",
    "Solver",
    "Step",
    "Timing",
    "TrajectoryRecorder",
    "Usage",
    "Vote",
    "normalized_equivalent",
    "render_chatml",
    "run_trajectory",
    "vote",
]
