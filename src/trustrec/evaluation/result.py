"""``EvaluationResult``: what one evaluation measured, with its uncertainty and its counts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


def json_float(value: float) -> float | None:
    """A float for JSON: NaN and infinities become ``None``."""
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True, eq=False)
class EvaluationResult:
    """Metric means, their confidence intervals, per-user values and the bookkeeping.

    ``metrics`` maps a metric name (``"ndcg@10"``, ``"coverage"``, ``"rmse"``, …) to its
    value; ``intervals`` holds a ``(low, high)`` interval at level ``confidence`` for the
    metrics averaged over users; ``per_user`` holds those per-user values, aligned with
    ``users`` (user indices). ``counts`` says what was evaluated and what was left out and
    why (keys are documented by the protocol that made the result); ``timings`` are
    seconds. The CLI and the report render results; nothing else parses them.
    """

    model: str
    protocol: str
    k: int | None
    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    per_user: dict[str, np.ndarray]
    users: np.ndarray
    counts: dict[str, int]
    confidence: float = 0.95
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self, per_user: bool = False) -> dict[str, Any]:
        """JSON-safe dict (NaN → ``None``); per-user arrays only when ``per_user`` is true."""
        out: dict[str, Any] = {
            "model": self.model,
            "protocol": self.protocol,
            "k": self.k,
            "confidence": self.confidence,
            "metrics": {name: json_float(v) for name, v in self.metrics.items()},
            "intervals": {name: [json_float(lo), json_float(hi)]
                          for name, (lo, hi) in self.intervals.items()},
            "counts": {name: int(v) for name, v in self.counts.items()},
            "timings": {name: float(v) for name, v in self.timings.items()},
        }
        if per_user:
            out["users"] = [int(u) for u in self.users]
            out["per_user"] = {name: [json_float(v) for v in values]
                               for name, values in self.per_user.items()}
        return out

    def to_frame(self) -> pd.DataFrame:
        """Per-user values as a table: a ``user`` column (index) and one column per metric."""
        return pd.DataFrame({"user": np.asarray(self.users), **self.per_user})

    def table_row(self) -> dict[str, Any]:
        """One flat row for comparison tables: each metric with ``_lo``/``_hi`` bounds."""
        row: dict[str, Any] = {"model": self.model, "protocol": self.protocol}
        for name, value in self.metrics.items():
            row[name] = float(value)
            if name in self.intervals:
                row[f"{name}_lo"], row[f"{name}_hi"] = map(float, self.intervals[name])
        row["users"] = int(self.counts.get("n_users_evaluated", len(self.users)))
        return row
