"""``mf``: biased matrix factorisation for ratings, ``r̂ = μ + b_u + b_i + p_u · q_i``.

The model is Koren's biased MF (as in Funk SVD / Surprise's ``SVD``); it is fitted by Gibbs
sampling as Bayesian MF (Salakhutdinov & Mnih 2008, with the per-dimension Normal–Gamma
hyper-priors of Rendle's libFM MCMC) instead of SGD:

* ratings are ``N(μ + b_u + b_i + p_u·q_i, 1/α)`` with ``μ`` the training mean;
* each user's ``[b_u, p_u]`` (each item's ``[b_i, q_i]``) has a Gaussian prior whose
  per-column mean and precision are themselves drawn every sweep, as is ``α``;
* a sweep redraws every user given the items (a ridge solve plus Gaussian noise — ALS with
  sampling), then every item, then the hyper-parameters.

The fitted biases and factors are the averages of ``samples`` sweeps after ``burn_in`` (on
ML-100K this predicts as well as averaging the sweeps' predictions, and keeps the model a
plain rank-``factors`` MF). The regularisation is learned from the data — no
``reg``/``lr``/``epochs`` to tune — and averaging over the posterior beats a single SGD
optimum: on the ML-100K folds u1..u5 the defaults reach RMSE ≈ 0.898, where SGD biased MF
tuned on validation data stayed ≈ 0.911 (see benchmarks/README.md). Users and items without
training ratings keep zero biases and factors, so, as in Surprise's ``SVD``, an unseen item
gets ``μ + b_u`` and an unseen user ``μ + b_i`` (also for IDs the model never saw:
:class:`~trustrec.models.baseline.BiasedRatings`). Predictions and scores are clipped to the
training rating scale.

Sampling is single-threaded and deterministic for a fixed ``seed``: all random draws come
from one numpy ``Generator``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from trustrec.data.dataset import Dataset
from trustrec.models.baseline import BiasedRatings, rating_bounds
from trustrec.models.config import Config, require
from trustrec.models.factor import FactorRecommender
from trustrec.models.registry import register

log = logging.getLogger(__name__)

#: Gamma(shape, rate) hyper-prior of every precision (noise and prior columns).
HYPER_SHAPE = 1.0
HYPER_RATE = 1.0
#: Prior strength (pseudo-count) of the column means, centred on zero.
HYPER_STRENGTH = 1.0


@dataclass(frozen=True)
class MFConfig(Config):
    """``factors``: latent dimension; ``samples``: Gibbs sweeps averaged into the model;
    ``burn_in``: sweeps discarded first; ``init_std``: std of the initial random factors;
    ``seed``: all random draws."""

    factors: int = 6
    samples: int = 200
    burn_in: int = 5
    init_std: float = 0.1
    seed: int = 0

    def check(self) -> None:
        """Positive sizes and scale; non-negative burn-in."""
        require(self.factors >= 1, "mf", "factors", "≥ 1", self.factors)
        require(self.samples >= 1, "mf", "samples", "≥ 1", self.samples)
        require(self.burn_in >= 0, "mf", "burn_in", "≥ 0", self.burn_in)
        require(self.init_std > 0, "mf", "init_std", "> 0", self.init_std)


def _grouped(keys: np.ndarray, other: np.ndarray, values: np.ndarray,
             n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR-style grouping of the ratings by ``keys``: (indptr, other, values)."""
    order = np.argsort(keys, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n), out=indptr[1:])
    return indptr, other[order], values[order]


def _draw_prior(rows: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-column prior mean and precision drawn from their Normal–Gamma posterior."""
    n = rows.shape[0]
    mean = rows.mean(axis=0)
    scatter = ((rows - mean) ** 2).sum(axis=0)
    shrunk = HYPER_STRENGTH * n / (HYPER_STRENGTH + n) * mean ** 2
    prec = rng.gamma(HYPER_SHAPE + n / 2, 1.0 / (HYPER_RATE + 0.5 * (scatter + shrunk)))
    loc = rng.normal(n * mean / (HYPER_STRENGTH + n),
                     1.0 / np.sqrt((HYPER_STRENGTH + n) * prec))
    return loc, prec


@register
class MatrixFactorization(BiasedRatings, FactorRecommender):
    """Rating estimate ``μ + b_u + b_i + p_u·q_i`` clipped to the training scale; ranks by it."""

    name = "mf"
    config_class = MFConfig
    predicts_ratings = True

    def _fit(self, dataset: Dataset) -> None:
        from trustrec.models._mf_kernels import sample_rows, squared_error  # numba: on fit

        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        users, items = dataset.user, dataset.item
        values = dataset.value.astype(np.float64)
        mu = float(values.mean())
        n_users, n_items, d = dataset.n_users, dataset.n_items, cfg.factors + 1
        by_user = _grouped(users, items, values, n_users)
        by_item = _grouped(items, users, values, n_items)
        X = rng.normal(0.0, cfg.init_std, (n_users, d))
        Y = rng.normal(0.0, cfg.init_std, (n_items, d))
        X[:, 0] = Y[:, 0] = 0.0
        alpha = 1.0
        user_prior = item_prior = (np.zeros(d), np.ones(d))
        X_sum, Y_sum = np.zeros_like(X), np.zeros_like(Y)
        for sweep in range(cfg.burn_in + cfg.samples):
            sample_rows(*by_user, X, Y, mu, alpha, *user_prior,
                        rng.standard_normal((n_users, d)))
            sample_rows(*by_item, Y, X, mu, alpha, *item_prior,
                        rng.standard_normal((n_items, d)))
            sse = squared_error(users, items, values, mu, X, Y)
            alpha = rng.gamma(HYPER_SHAPE + len(values) / 2, 1.0 / (HYPER_RATE + sse / 2))
            user_prior, item_prior = _draw_prior(X, rng), _draw_prior(Y, rng)
            log.debug("mf sweep %d: train RMSE %.4f", sweep, np.sqrt(sse / len(values)))
            if sweep >= cfg.burn_in:
                X_sum += X
                Y_sum += Y
        X_mean, Y_mean = X_sum / cfg.samples, Y_sum / cfg.samples
        X_mean[dataset.user_counts() == 0] = 0.0
        Y_mean[dataset.item_counts() == 0] = 0.0
        self.mu_ = np.float32(mu)
        self.user_bias_ = X_mean[:, 0].astype(np.float32)
        self.bounds_ = np.asarray(rating_bounds(dataset), dtype=np.float32)
        self._set_factors(X_mean[:, 1:], Y_mean[:, 1:], Y_mean[:, 0])

    def _score(self, users: np.ndarray) -> np.ndarray:
        raw = super()._score(users) + (self.mu_ + self.user_bias_[users])[:, None]
        return np.clip(raw, self.bounds_[0], self.bounds_[1])

    def _predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        raw = super()._predict(users, items) + self.mu_ + self.user_bias_[users]
        return np.clip(raw, self.bounds_[0], self.bounds_[1])

    def _state(self) -> dict[str, np.ndarray]:
        return {**super()._state(), "mu": np.asarray([self.mu_]), "user_bias": self.user_bias_,
                "bounds": self.bounds_}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        arrays["item_bias"]  # required here (KeyError → ArtifactError), optional in the base
        super()._load_state(arrays)
        user_bias, mu, bounds = arrays["user_bias"], arrays["mu"], arrays["bounds"]
        if user_bias.shape != (self.n_users_,) or mu.shape != (1,) or bounds.shape != (2,):
            raise ValueError(f"user_bias {user_bias.shape}, mu {mu.shape}, bounds "
                             f"{bounds.shape}: expected ({self.n_users_},), (1,), (2,)")
        self.mu_ = np.float32(mu[0])
        self.user_bias_ = user_bias.astype(np.float32)
        self.bounds_ = bounds.astype(np.float32)
