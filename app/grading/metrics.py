"""Prometheus metrics of the checker (default registry, so the service's `/metrics` exposes them)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = ["CHECKS", "CHECK_SECONDS", "WORKERS_REPLACED"]

CHECKS = Counter("tirsolve_checks_total", "Answer checks by verdict reason.", ["reason"])
CHECK_SECONDS = Histogram(
    "tirsolve_check_seconds",
    "Time of one answer check in the worker pool (IPC included).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0),
)
WORKERS_REPLACED = Counter(
    "tirsolve_checker_workers_replaced_total", "Checker workers killed and replaced (timeouts, crashes)."
)
