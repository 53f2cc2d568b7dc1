"""How far an attack moved a model: target ranks and hit ratios among genuine users who had
not seen the target, prediction shift for rating models, and collateral NDCG change."""

from __future__ import annotations

from typing import Any

import numpy as np

from trustrec.data.dataset import Dataset
from trustrec.evaluation.protocol import evaluate_ranking
from trustrec.models.base import SCORE_BLOCK, Recommender
from trustrec.models.topk import mask_seen

HIT_KS = (10, 50)


def audience(train: Dataset, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Genuine users with training history (indices) and, per (user, target), whether the
    user had not seen the target in ``train`` — the pairs an attack can change."""
    users = np.flatnonzero(train.user_counts() > 0).astype(np.int32)
    seen = train.csr[users][:, targets].toarray() > 0
    return users, ~seen


def target_ranks(model: Recommender, users: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Rank (0 = first) of each target in each user's full list (seen items excluded, ties
    broken by the lower item index like ``recommend``): (len(users), len(targets))."""
    out = np.empty((len(users), len(targets)), dtype=np.float64)
    step = max(1, SCORE_BLOCK // max(1, model.n_items_))
    lower = np.arange(model.n_items_)[None, :, None] < targets[None, None, :]
    for start in range(0, len(users), step):
        rows = users[start:start + step]
        block = np.nan_to_num(model.score(rows), nan=-np.inf)
        mask_seen(block, model.seen_, rows)
        t = block[:, targets][:, None, :]
        ahead = (block[:, :, None] > t) | ((block[:, :, None] == t) & lower)
        out[start:start + step] = ahead.sum(axis=1)
    return out


def target_effect(model: Recommender, users: np.ndarray, eligible: np.ndarray,
                  targets: np.ndarray) -> dict[str, float]:
    """Hit ratio @10/@50 and mean rank of the targets over the eligible (user, target) pairs."""
    ranks = target_ranks(model, users, targets)[eligible]
    out = {f"target_hr@{k}": float((ranks < k).mean()) for k in HIT_KS}
    out["target_mean_rank"] = float(ranks.mean())
    return out


def prediction_shift(clean: Recommender, attacked: Recommender, users: np.ndarray,
                     eligible: np.ndarray, targets: np.ndarray) -> float:
    """Mean change of the predicted rating of the targets over the eligible pairs."""
    rows, cols = np.nonzero(eligible)
    u, i = users[rows], targets[cols]
    return float(np.mean(attacked.predict(u, i) - clean.predict(u, i)))


def genuine_ndcg(model: Recommender, train: Dataset, test: Dataset, users: np.ndarray,
                 k: int = 10) -> float:
    """NDCG@k of ``model`` for the genuine ``users`` (``train``/``test`` in the model's space)."""
    result = evaluate_ranking(model, train, test, k, users=users, n_boot=50)
    return float(result.metrics[f"ndcg@{k}"])


def outcome(model: Recommender, train: Dataset, test: Dataset, users: np.ndarray,
            eligible: np.ndarray, targets: np.ndarray) -> dict[str, Any]:
    """Target effect and genuine NDCG@10 of one fitted model."""
    return {**target_effect(model, users, eligible, targets),
            "genuine_ndcg@10": genuine_ndcg(model, train, test, users)}


def mean_spread(runs: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation over seeds of every numeric field of ``runs``."""
    keys = [k for k, v in runs[0].items() if isinstance(v, int | float)]
    return {k: {"mean": float(np.mean([r[k] for r in runs])),
                "std": float(np.std([r[k] for r in runs]))} for k in keys}
