"""Train several models on one split and evaluate them the same way (demo, CLI, benchmarks)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trustrec.data.split import Split
from trustrec.evaluation import EvaluationResult, evaluate_ranking, evaluate_ratings
from trustrec.models import Recommender, create_model
from trustrec.models.spec import ModelSpec, parse_params, split_params  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelRun:
    """One model's fit time and its evaluation on one split."""

    spec: ModelSpec
    fit_seconds: float
    recommend_seconds: float
    ranking: EvaluationResult
    ratings: EvaluationResult | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "model": self.spec.name,
            "params": dict(self.spec.params),
            "fit_seconds": self.fit_seconds,
            "recommend_seconds": self.recommend_seconds,
            "ranking": self.ranking.to_dict(),
            "ratings": None if self.ratings is None else self.ratings.to_dict(),
        }


def compare_models(
    split: Split,
    specs: Sequence[ModelSpec],
    k: int = 10,
    seed: int = 0,
    on_done: Callable[[ModelRun], None] | None = None,
) -> list[ModelRun]:
    """Fit each model on ``split.train`` and evaluate top-``k`` lists (and ratings where the
    model predicts them) on ``split.test``."""
    runs = []
    for spec in specs:
        model = spec.build(seed=seed)
        start = time.perf_counter()
        model.fit(split.train)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        ranking = evaluate_ranking(model, split.train, split.test, k=k, seed=seed)
        rec_s = time.perf_counter() - start
        ratings = None
        if model.predicts_ratings and split.test.explicit:
            ratings = evaluate_ratings(model, split.train, split.test, seed=seed)
        run = ModelRun(spec, fit_s, rec_s, ranking, ratings)
        log.info("%s: fit %.2fs, evaluate %.2fs", spec.label(), fit_s, rec_s)
        runs.append(run)
        if on_done is not None:
            on_done(run)
    return runs


def summary_rows(runs_per_split: Sequence[Sequence[ModelRun]], k: int) -> list[dict[str, Any]]:
    """One row per model: metric means over splits (ranking, then ratings), fit seconds."""
    rows = []
    for i, first in enumerate(runs_per_split[0]):
        runs = [split_runs[i] for split_runs in runs_per_split]
        row: dict[str, Any] = {"model": first.spec.label()}
        for name in (f"ndcg@{k}", f"recall@{k}", f"precision@{k}", f"map@{k}", "coverage", "arp"):
            row[name] = float(np.mean([r.ranking.metrics.get(name, np.nan) for r in runs]))
        for name in ("rmse", "mae"):  # None for models that do not predict ratings
            row[name] = (None if first.ratings is None else
                         float(np.mean([r.ratings.metrics[name] for r in runs if r.ratings])))
        row["fit_s"] = float(np.mean([r.fit_seconds for r in runs]))
        rows.append(row)
    return rows


@dataclass(frozen=True)
class NextItemRun:
    """One model's fitted instance, fit time and full-ranking result on the held-out items."""

    name: str
    model: Recommender
    fit_s: float
    result: EvaluationResult


def next_item(split: Split, specs: Mapping[str, tuple[str, dict[str, Any]]], seed: int = 0,
              k: int = 10) -> list[NextItemRun]:
    """Fit every ``label → (model name, params)`` on ``split.train``; evaluate on its test."""
    runs = []
    for label, (name, params) in specs.items():
        start = time.perf_counter()
        model = create_model(name, params, seed=seed).fit(split.train)
        fit_s = time.perf_counter() - start
        result = evaluate_ranking(model, split.train, split.test, k=k, n_boot=200, seed=seed,
                                  name=label)
        runs.append(NextItemRun(label, model, fit_s, result))
    return runs
