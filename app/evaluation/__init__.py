"""Evaluation of the model on a problem set (`tirsolve eval`): read a JSONL set, solve, score, summarize."""

from app.evaluation.dataset import DatasetError, EvalItem, Fields, read_dataset
from app.evaluation.results import ResultsError, ResultsFile

__all__ = ["DatasetError", "EvalItem", "Fields", "ResultsError", "ResultsFile", "read_dataset"]
