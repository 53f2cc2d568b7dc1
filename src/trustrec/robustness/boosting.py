"""A small gradient-boosted stump classifier (logistic loss, Newton steps) in numpy.

scikit-learn is not a dependency; shilling detection needs only a robust non-linear
classifier on a few dozen features, which depth-1 trees over quantile thresholds give.
"""

from __future__ import annotations

import numpy as np

from trustrec.errors import ConfigError, ModelError


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _sum_above(keys: np.ndarray, weights: np.ndarray, n_f: int, n_b: int) -> np.ndarray:
    """(n_f, n_b): per feature and threshold, the sum of ``weights`` of the rows above it."""
    hist = np.bincount(keys, weights=weights, minlength=n_f * (n_b + 1)).reshape(n_f, n_b + 1)
    return np.cumsum(hist[:, ::-1], axis=1)[:, ::-1][:, 1:]


class BoostedStumps:
    """Gradient boosting of decision stumps for binary labels.

    ``n_rounds`` stumps, each shrunk by ``learning_rate``; split thresholds are ``n_bins``
    quantiles of each feature; ``l2`` regularises leaf values. ``balanced`` weighs the
    classes equally. Deterministic (no sampling).
    """

    def __init__(self, n_rounds: int = 200, learning_rate: float = 0.2, n_bins: int = 32,
                 l2: float = 1.0, balanced: bool = False) -> None:
        if n_rounds < 1 or not 0 < learning_rate <= 1 or n_bins < 2:
            raise ConfigError("BoostedStumps: need n_rounds ≥ 1, 0 < learning_rate ≤ 1, "
                              f"n_bins ≥ 2; got {n_rounds}, {learning_rate}, {n_bins}")
        self.n_rounds, self.learning_rate = n_rounds, learning_rate
        self.n_bins, self.l2, self.balanced = n_bins, l2, balanced

    def fit(self, x: np.ndarray, y: np.ndarray) -> BoostedStumps:
        """Fit on features ``x`` (n, f) and boolean labels ``y`` (n,); returns ``self``."""
        x, y = np.asarray(x, np.float64), np.asarray(y, bool)
        if x.ndim != 2 or len(x) != len(y) or y.all() or not y.any():
            raise ModelError("BoostedStumps.fit: need an (n, f) matrix and n labels of both "
                             "classes")
        w = np.ones(len(y))
        if self.balanced:
            w[y] = (~y).sum() / y.sum()
        qs = np.linspace(0, 1, self.n_bins + 2)[1:-1]
        self.thresholds_ = np.quantile(x, qs, axis=0).T  # (f, bins)
        above = x[:, :, None] > self.thresholds_[None]  # (n, f, bins)
        n_f, n_b = self.thresholds_.shape
        # bin of each value (thresholds below it); stumps need sums over bins above b
        keys = (np.arange(n_f) * (n_b + 1))[None, :] + above.sum(axis=2)
        keys = keys.ravel()
        prior = float(np.clip((w * y).sum() / w.sum(), 1e-6, 1 - 1e-6))
        self.bias_ = float(np.log(prior / (1 - prior)))
        margin = np.full(len(y), self.bias_)
        stumps = []
        for _ in range(self.n_rounds):
            p = _sigmoid(margin)
            g, h = w * (y - p), w * p * (1 - p)
            g_hi, h_hi = (_sum_above(keys, np.repeat(v, n_f), n_f, n_b) for v in (g, h))
            g_lo, h_lo = g.sum() - g_hi, h.sum() - h_hi
            gain = g_hi ** 2 / (h_hi + self.l2) + g_lo ** 2 / (h_lo + self.l2)
            f, b = np.unravel_index(int(np.argmax(gain)), gain.shape)
            lo = self.learning_rate * g_lo[f, b] / (h_lo[f, b] + self.l2)
            hi = self.learning_rate * g_hi[f, b] / (h_hi[f, b] + self.l2)
            stumps.append((f, self.thresholds_[f, b], lo, hi))
            margin += np.where(above[:, f, b], hi, lo)
        self.stumps_ = np.array(stumps, dtype=np.float64)
        return self

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """Log-odds of the positive class per row."""
        x = np.asarray(x, np.float64)
        f = self.stumps_[:, 0].astype(np.int64)
        above = x[:, f] > self.stumps_[None, :, 1]
        return self.bias_ + np.where(above, self.stumps_[:, 3], self.stumps_[:, 2]).sum(axis=1)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Probability of the positive class per row."""
        return _sigmoid(self.decision_function(x))
