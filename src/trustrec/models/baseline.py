"""``baseline``: global mean plus regularised user and item biases (Koren's baseline predictor).

Fitted like Surprise's ``BaselineOnly`` with ALS: starting from zero biases, alternate the
closed-form ridge updates

    b_i = Σ_{u ∈ U(i)} (r_ui − μ − b_u) / (reg_item + |U(i)|)
    b_u = Σ_{i ∈ I(u)} (r_ui − μ − b_i) / (reg_user + |I(u)|)

for ``iterations`` rounds, each a pair of ``np.bincount`` passes over the ratings. As in
Surprise, an item (user) without training ratings has bias 0, so its estimate is
``μ + b_u`` (``μ + b_i``) — also for IDs the model never saw (:class:`BiasedRatings`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trustrec.data.dataset import Dataset
from trustrec.models.base import Recommender
from trustrec.models.config import Config, require
from trustrec.models.registry import register


@dataclass(frozen=True)
class BaselineConfig(Config):
    """``reg_user`` / ``reg_item``: ridge shrinkage of the biases (in ratings' units of count);
    ``iterations``: rounds of alternating updates."""

    reg_user: float = 15.0
    reg_item: float = 10.0
    iterations: int = 10

    def check(self) -> None:
        """Shrinkages must be ≥ 0, iterations ≥ 1."""
        require(self.reg_user >= 0, "baseline", "reg_user", "≥ 0", self.reg_user)
        require(self.reg_item >= 0, "baseline", "reg_item", "≥ 0", self.reg_item)
        require(self.iterations >= 1, "baseline", "iterations", "≥ 1", self.iterations)


def rating_bounds(dataset: Dataset) -> tuple[float, float]:
    """The dataset's declared rating scale, else the min and max of its values."""
    if dataset.rating_scale is not None:
        return float(dataset.rating_scale[0]), float(dataset.rating_scale[1])
    return float(dataset.value.min()), float(dataset.value.max())


def fit_biases(dataset: Dataset, reg_user: float, reg_item: float,
               iterations: int) -> tuple[float, np.ndarray, np.ndarray]:
    """Global mean and ALS-fitted user and item biases (float64) of ``dataset``'s ratings."""
    users, items = dataset.user, dataset.item
    values = dataset.value.astype(np.float64)
    mu = float(values.mean())
    resid = values - mu
    user_den = np.bincount(users, minlength=dataset.n_users) + reg_user
    item_den = np.bincount(items, minlength=dataset.n_items) + reg_item
    # an entity without ratings and zero shrinkage would divide 0 by 0: keep its bias at 0
    user_den[user_den == 0] = 1.0
    item_den[item_den == 0] = 1.0
    b_user = np.zeros(dataset.n_users)
    for _ in range(iterations):
        b_item = np.bincount(items, weights=resid - b_user[users],
                             minlength=dataset.n_items) / item_den
        b_user = np.bincount(users, weights=resid - b_item[items],
                             minlength=dataset.n_users) / user_den
    return mu, b_user, b_item


class BiasedRatings:
    """Mixin of rating models ``μ + b_u + b_i (+ …)`` with ``mu_``, ``user_bias_``,
    ``item_bias_`` and ``bounds_``: a pair whose user or item was unseen in training gets
    ``μ`` plus the biases that are known, clipped — Surprise's rule for ``BaselineOnly`` and
    ``SVD`` (an unknown user's or item's bias is taken as zero)."""

    mu_: np.float32
    user_bias_: np.ndarray
    item_bias_: np.ndarray
    bounds_: np.ndarray

    def _predict_partial(self, users: np.ndarray, items: np.ndarray, user_known: np.ndarray,
                         item_known: np.ndarray) -> np.ndarray:
        raw = (self.mu_ + np.where(user_known, self.user_bias_[users], 0.0)
               + np.where(item_known, self.item_bias_[items], 0.0))
        return np.clip(raw, self.bounds_[0], self.bounds_[1]).astype(np.float32)


@register
class Baseline(BiasedRatings, Recommender):
    """Rating estimate ``μ + b_u + b_i`` clipped to the training scale; ranks by it."""

    name = "baseline"
    config_class = BaselineConfig
    predicts_ratings = True

    def _fit(self, dataset: Dataset) -> None:
        cfg = self.config
        mu, b_user, b_item = fit_biases(dataset, cfg.reg_user, cfg.reg_item, cfg.iterations)
        self.mu_ = np.float32(mu)
        self.user_bias_ = b_user.astype(np.float32)
        self.item_bias_ = b_item.astype(np.float32)
        self.bounds_ = np.asarray(rating_bounds(dataset), dtype=np.float32)

    def _score(self, users: np.ndarray) -> np.ndarray:
        raw = self.mu_ + self.user_bias_[users, None] + self.item_bias_[None, :]
        return np.clip(raw, self.bounds_[0], self.bounds_[1])

    def _predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        raw = self.mu_ + self.user_bias_[users] + self.item_bias_[items]
        return np.clip(raw, self.bounds_[0], self.bounds_[1])

    def _state(self) -> dict[str, np.ndarray]:
        return {"mu": np.asarray([self.mu_]), "user_bias": self.user_bias_,
                "item_bias": self.item_bias_, "bounds": self.bounds_}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        expected = {"mu": (1,), "user_bias": (self.n_users_,), "item_bias": (self.n_items_,),
                    "bounds": (2,)}
        for key, shape in expected.items():
            if arrays[key].shape != shape:
                raise ValueError(f"{key} has shape {arrays[key].shape}, expected {shape}")
        self.mu_ = np.float32(arrays["mu"][0])
        self.user_bias_ = arrays["user_bias"].astype(np.float32)
        self.item_bias_ = arrays["item_bias"].astype(np.float32)
        self.bounds_ = arrays["bounds"].astype(np.float32)
