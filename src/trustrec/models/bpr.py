"""``bpr``: Bayesian Personalised Ranking (Rendle et al. 2009) via ``implicit``'s CPU SGD.

Learns factors so that a user's items score above sampled items the user has not seen
(``verify_negative_samples`` re-draws negatives the user has). Values are ignored: every
interaction is a positive. ``implicit`` stores an item bias as an extra last item-factor
column, matched by a user column of ones; it is split off here into ``item_bias_``, so that
scores are ``x_u · y_i + b_i``.

``implicit`` runs SGD lock-free across threads (Hogwild), so a multi-threaded fit depends on
the thread schedule; ``deterministic`` (default) trains on one thread, which with ``seed``
makes the fit reproducible. Set it false to use ``threads``.

The defaults (``learning_rate=0.005``, ``regularization=0.001``, 100 epochs) were chosen on
validation splits of ml-latest-small and ML-100K; ranking quality there peaks near
``learning_rate · iterations ≈ 0.5`` and falls with longer training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from trustrec.data.dataset import Dataset
from trustrec.models.config import Config, require
from trustrec.models.factor import FactorRecommender
from trustrec.models.registry import register


@dataclass(frozen=True)
class BprConfig(Config):
    """``factors``: latent dimension; ``learning_rate`` and ``regularization`` of the SGD;
    ``iterations``: epochs (each draws as many triples as there are interactions);
    ``verify_negative_samples``: re-draw negatives the user has seen; ``threads``: SGD
    threads (0: all cores) when ``deterministic`` is false; ``seed``: initial factors and
    sampling."""

    factors: int = 64
    learning_rate: float = 0.005
    regularization: float = 0.001
    iterations: int = 100
    verify_negative_samples: bool = True
    threads: int = 0
    deterministic: bool = True
    seed: int = 0

    def check(self) -> None:
        """Validate ranges (``ConfigError`` naming the parameter)."""
        require(self.factors >= 1, "bpr", "factors", "≥ 1", self.factors)
        require(math.isfinite(self.learning_rate) and self.learning_rate > 0, "bpr",
                "learning_rate", "a finite number > 0", self.learning_rate)
        require(math.isfinite(self.regularization) and self.regularization >= 0, "bpr",
                "regularization", "a finite number ≥ 0", self.regularization)
        require(self.iterations >= 1, "bpr", "iterations", "≥ 1", self.iterations)
        require(self.threads >= 0, "bpr", "threads", "≥ 0 (0: all cores)", self.threads)
        require(self.seed >= 0, "bpr", "seed", "≥ 0", self.seed)


@register
class Bpr(FactorRecommender):
    """BPR matrix factorisation with item biases: scores ``x_u · y_i + b_i``."""

    name = "bpr"
    config_class = BprConfig

    def _fit(self, dataset: Dataset) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking  # load on fit

        cfg = self.config
        with threadpool_limits(limits=1, user_api="blas"):
            solver = BayesianPersonalizedRanking(
                factors=cfg.factors, learning_rate=cfg.learning_rate,
                regularization=cfg.regularization, dtype=np.float32,
                iterations=cfg.iterations, verify_negative_samples=cfg.verify_negative_samples,
                num_threads=1 if cfg.deterministic else cfg.threads, random_state=cfg.seed)
            solver.fit(self.seen_, show_progress=False)
        k = cfg.factors
        self._set_factors(solver.user_factors[:, :k], solver.item_factors[:, :k],
                          solver.item_factors[:, k])

    def training_values(self) -> np.ndarray:
        """Ones: the fit reads nothing but ``seen_``."""
        return np.ones(self.seen_.nnz, np.float32)
