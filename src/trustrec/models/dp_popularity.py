"""``dp_popularity``: the most popular items, with user-level differential privacy.

The mechanism: each user keeps at most ``max_items_per_user`` = m items (the same keyed
clipping as ``dp_ease``, :func:`trustrec.models.dp_input.clipped_input`); the item counts
of the clipped matrix change by at most 1 in at most m items when one user is added or
removed, an L2 sensitivity of √m; i.i.d. Gaussian noise from the OS CSPRNG with the
analytic σ for (``epsilon``, ``delta``) and √m is added to every count of the public
catalogue. The noisy counts are the whole release and the same list for everyone.

Its noise is √((m+1)/2) times smaller than DP-EASE's at the same (ε, δ) and m (one count
per item instead of one entry per item pair), which is why it wins at small ε: the
privacy audit prints both and says which one to release (:mod:`trustrec.privacy.audit`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from trustrec.data.dataset import Dataset
from trustrec.models.config import Config, require
from trustrec.models.dp_accounting import gaussian_sigma
from trustrec.models.dp_input import clipped_input
from trustrec.models.dp_noise import secure_normal
from trustrec.models.dp_release import USER_LEVEL, PrivateRelease, statement
from trustrec.models.popularity import Popularity
from trustrec.models.registry import register


@dataclass(frozen=True)
class DpPopularityConfig(Config):
    """``epsilon`` (> 0, ``inf``: no noise) and ``delta`` (in (0, 1)) of the user-level
    guarantee, ``max_items_per_user`` (the clipping bound m) and ``seed`` (which items
    clipping keeps; never the noise)."""

    epsilon: float = 8.0
    delta: float = 1e-5
    max_items_per_user: int = 50
    seed: int = 0

    def check(self) -> None:
        """Validate ranges (``ConfigError`` naming the parameter)."""
        name = "dp_popularity"
        require(self.epsilon > 0, name, "epsilon", "> 0 (inf: no noise)", self.epsilon)
        require(0 < self.delta < 1, name, "delta", "in (0, 1)", self.delta)
        require(self.max_items_per_user >= 1, name, "max_items_per_user", "≥ 1",
                self.max_items_per_user)
        require(self.seed >= 0, name, "seed", "≥ 0", self.seed)


@register
class DpPopularity(PrivateRelease, Popularity):
    """Noisy clipped item counts: one list for everyone, (ε, δ)-DP per user."""

    name = "dp_popularity"
    config_class = DpPopularityConfig

    def _privacy(self) -> dict[str, Any]:
        cfg = self.config
        return statement(
            mechanism="analytic Gaussian mechanism on the clipped item counts",
            epsilon=cfg.epsilon, delta=cfg.delta, unit="user (entire history)",
            neighbouring=USER_LEVEL,
            budget="all of (ε, δ) to the item counts",
            released={
                "state.item_scores": "noisy clipped item counts (the scores of every user "
                                     "and of empty histories)",
                "index.item_ids": "the public item catalogue (an input, not computed from "
                                  "the interactions)",
                "config": "the hyper-parameters (public; see docs/privacy.md)",
            },
            max_items_per_user=cfg.max_items_per_user,
            sensitivity=math.sqrt(cfg.max_items_per_user), sigma=self.sigma_)

    def _fit(self, dataset: Dataset) -> None:
        cfg = self.config
        clipped = clipped_input(self.seen_, self.user_index_.ids, self.item_index_.ids,
                                cfg.max_items_per_user, cfg.seed)
        counts = np.asarray(clipped.sum(axis=0), dtype=np.float64).ravel()
        self.sigma_ = gaussian_sigma(cfg.epsilon, cfg.delta, math.sqrt(cfg.max_items_per_user))
        if self.sigma_ > 0:
            counts += secure_normal(len(counts), self.sigma_)
        self.item_scores_ = counts.astype(np.float32)
        self.item_popularity_ = self.item_scores_  # never the raw counts

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        super()._load_state(arrays)
        scores = self.item_scores_
        if scores.shape != (self.n_items_,) or scores.dtype != np.float32:
            raise ValueError(f"item_scores has shape {scores.shape} and dtype {scores.dtype}, "
                             f"expected ({self.n_items_},) float32")
        self.item_popularity_ = scores
