"""The accuracy/fairness frontier: one re-ranker audited at a range of trade-off weights."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trustrec.data import Dataset, Recommendations
from trustrec.evaluation.protocol import RankingModel
from trustrec.fairness.audit import FairnessReport, audit_fairness
from trustrec.fairness.groups import UserGroups
from trustrec.fairness.rerank import RerankedModel, Reranker


class _CachedCandidates:
    """Remembers a model's candidate lists per batch of users, so a sweep asks once."""

    def __init__(self, model: RankingModel) -> None:
        self.model = model
        self.name = getattr(model, "name", type(model).__name__)
        self._cache: dict[tuple[bytes, int, bool], Recommendations] = {}

    def recommend(self, users: np.ndarray, k: int, exclude_seen: bool = True,
                  candidates: np.ndarray | None = None) -> Recommendations:
        if candidates is not None:
            return self.model.recommend(users, k, exclude_seen=exclude_seen,
                                        candidates=candidates)
        key = (np.asarray(users, dtype=np.int64).tobytes(), k, exclude_seen)
        if key not in self._cache:
            self._cache[key] = self.model.recommend(users, k, exclude_seen=exclude_seen)
        return self._cache[key]


@dataclass(frozen=True)
class FrontierPoint:
    """One re-ranker setting and its audit."""

    method: str
    weight: float
    report: FairnessReport

    def row(self, gap_metric: str | None = None) -> dict[str, Any]:
        """Flat row: method, weight, overall metrics and each group column's gap."""
        out: dict[str, Any] = {"method": self.method, "weight": self.weight,
                               **self.report.metrics}
        metric = gap_metric or f"ndcg@{self.report.k}"
        for column, audit in self.report.groups.items():
            if metric in audit.gaps:
                out[f"gap_{column}"] = audit.gaps[metric].absolute
                out[f"gap_{column}_p"] = audit.gaps[metric].p_value
        return out


def sweep(model: RankingModel, reranker: Reranker, weights: Sequence[float], train: Dataset,
          test: Dataset, groups: Sequence[UserGroups] = (), k: int = 10, *,
          n_candidates: int = 100, seed: int = 0, n_boot: int = 200,
          n_perm: int = 200) -> list[FrontierPoint]:
    """Audit ``model`` re-ranked by (fitted) ``reranker`` at each of ``weights`` (weight 0 is
    the model's own order). The model is asked for its candidates once."""
    cached = _CachedCandidates(model)
    points = []
    for w in weights:
        wrapped = RerankedModel(cached, reranker.with_weight(w), n_candidates)
        report = audit_fairness(wrapped, train, test, groups, k, seed=seed, n_boot=n_boot,
                                n_perm=n_perm, name=wrapped.name)
        points.append(FrontierPoint(reranker.name, float(w), report))
    return points
