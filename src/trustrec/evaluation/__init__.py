"""Evaluation: metrics as plain functions over arrays, and protocols that trust no model.

Imports only :mod:`trustrec.data`; models are typed by protocols (anything with
``recommend`` / ``predict`` / ``score``).
"""

from trustrec.evaluation.beyond import (
    average_recommended_popularity,
    catalogue_coverage,
    exposure,
    gini,
    intra_list_diversity,
    novelty,
)
from trustrec.evaluation.cold_start import ColdStartResult, cold_start
from trustrec.evaluation.intervals import bootstrap_ci, mean_ci, standard_error
from trustrec.evaluation.metrics import (
    average_precision_at_k,
    hit_rate_at_k,
    mae,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    reciprocal_rank_at_k,
    rmse,
)
from trustrec.evaluation.protocol import (
    RankingModel,
    RatingModel,
    ScoringModel,
    evaluate_ranking,
    evaluate_ratings,
    evaluate_sampled,
)
from trustrec.evaluation.result import EvaluationResult

__all__ = [
    "ColdStartResult",
    "EvaluationResult",
    "RankingModel",
    "RatingModel",
    "ScoringModel",
    "average_precision_at_k",
    "average_recommended_popularity",
    "bootstrap_ci",
    "catalogue_coverage",
    "cold_start",
    "evaluate_ranking",
    "evaluate_ratings",
    "evaluate_sampled",
    "exposure",
    "gini",
    "hit_rate_at_k",
    "intra_list_diversity",
    "mae",
    "mean_ci",
    "ndcg_at_k",
    "novelty",
    "precision_at_k",
    "ranking_metrics",
    "recall_at_k",
    "reciprocal_rank_at_k",
    "rmse",
    "standard_error",
]
