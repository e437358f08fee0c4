"""The HTTP layer: routes and schemas only; the work happens in `app.tir` (and `app.grading`)."""

from app.api.app import build_model_client, build_solver, create_app

__all__ = ["build_model_client", "build_solver", "create_app"]
