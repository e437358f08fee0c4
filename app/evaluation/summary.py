"""The summary of an evaluation: accuracy overall and by subject and level, errors, latency, throughput."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from app.evaluation.dataset import EvalItem

__all__ = ["render_summary", "summarize"]


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _natural(key: str) -> tuple[Any, ...]:
    """'Level 10' after 'Level 9'."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", key))


def _rate(correct: int, of: int) -> float | None:
    return round(correct / of, 4) if of else None


def _groups(items: list[EvalItem], records: dict[str, dict[str, Any]], attr: str) -> dict[str, Any]:
    """Accuracy per value of `attr` ('subject' or 'level'); empty when the data has no such field."""
    tally: dict[str, Counter[str]] = {}
    for item in items:
        value = getattr(item, attr)
        if value is None:
            continue
        counts = tally.setdefault(value, Counter())
        counts["total"] += 1
        record = records.get(item.id)
        if record is not None and not record.get("error"):
            counts["attempted"] += 1
            counts["correct"] += bool(record.get("correct"))
    return {
        key: {
            "correct": c["correct"],
            "attempted": c["attempted"],
            "total": c["total"],
            "accuracy": _rate(c["correct"], c["attempted"]),
        }
        for key, c in sorted(tally.items(), key=lambda kv: _natural(kv[0]))
    }


def summarize(
    items: list[EvalItem],
    records: dict[str, dict[str, Any]],
    *,
    shape: str,
    skipped: int,
    ran: Iterable[dict[str, Any]],
    wall_s: float,
    concurrency: int,
) -> dict[str, Any]:
    """Figures over every item of the set: `records` holds each id's latest result (earlier runs included).

    Latency is over every answered solve (earlier runs' included); throughput is this run's only (`ran`, in
    `wall_s`): a resumed run's skipped problems took their time in another run.
    """
    done = [records[i.id] for i in items if i.id in records]
    errors = [r for r in done if r.get("error")]
    attempted = [r for r in done if not r.get("error")]
    correct = sum(bool(r.get("correct")) for r in attempted)
    ran = list(ran)
    latencies = [r["latency_ms"] for r in attempted if r.get("latency_ms") is not None]
    wrong_reasons = Counter(
        (r.get("verdict") or {}).get("reason", "?") for r in attempted if not r.get("correct")
    )
    return {
        "shape": shape,
        "problems": len(items),
        "done": len(done),
        "not_done": len(items) - len(done),
        "skipped": skipped,
        "solved_now": len(ran),
        "attempted": len(attempted),
        "correct": correct,
        "accuracy": _rate(correct, len(attempted)),
        "accuracy_all": _rate(correct, len(items)),
        "by_subject": _groups(items, records, "subject"),
        "by_level": _groups(items, records, "level"),
        "errors": len(errors),
        "errors_by_kind": dict(Counter(r["error"]["kind"] for r in errors).most_common()),
        "no_answer": sum(r.get("answer") is None for r in attempted),
        "wrong_by_reason": dict(wrong_reasons.most_common()),
        "latency_ms": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95)},
        "wall_s": round(wall_s, 3),
        "throughput_per_s": round(len(ran) / wall_s, 3) if ran and wall_s > 0 else None,
        "concurrency": concurrency,
    }


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.1f}%"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} ms"


def _group_lines(title: str, groups: dict[str, Any]) -> list[str]:
    if not groups:
        return []
    width = max(map(len, groups))
    lines = [f"by {title}:"]
    for key, g in groups.items():
        lines.append(
            f"  {key:<{width}}  {_pct(g['accuracy']):>6}  "
            f"({g['correct']}/{g['attempted']} attempted, {g['total']} in the set)"
        )
    return lines


def render_summary(s: dict[str, Any]) -> str:
    """The summary as lines a person reads at the end of a run."""
    lines = [
        f"{s['problems']} problems ({s['shape']} shape): {s['solved_now']} solved now, "
        f"{s['skipped']} skipped as already in the results"
    ]
    if s["not_done"]:
        lines.append(f"not done yet: {s['not_done']} (rerun the same command to finish)")
    lines.append(
        f"accuracy: {_pct(s['accuracy'])} ({s['correct']}/{s['attempted']} attempted); "
        f"{_pct(s['accuracy_all'])} of all {s['problems']} (errors and problems not done count as wrong)"
    )
    lines += _group_lines("subject", s["by_subject"])
    lines += _group_lines("level", s["by_level"])
    kinds = ", ".join(f"{k} {n}" for k, n in s["errors_by_kind"].items())
    lines.append(f"errors: {s['errors']}" + (f" ({kinds})" if kinds else ""))
    reasons = ", ".join(f"{k} {n}" for k, n in s["wrong_by_reason"].items())
    lines.append(f"no answer: {s['no_answer']}; wrong by verdict: {reasons or 'none'}")
    lines.append(f"latency: p50 {_ms(s['latency_ms']['p50'])}, p95 {_ms(s['latency_ms']['p95'])}")
    if s["throughput_per_s"] is not None:
        lines.append(
            f"throughput: {s['throughput_per_s']:.2f} problems/s "
            f"({s['solved_now']} in {s['wall_s']:.1f} s at concurrency {s['concurrency']})"
        )
    return "\n".join(lines)
