"""Exploration over the model's candidates, and off-policy evaluation of logged lists.

:class:`LinUCB` is a shared-parameter linear UCB: the context of candidate ``i`` for a user
is ``[v_i ⊙ p_u, rank feature, 1]`` where ``v_i`` is the item's unit vector (the model's
``item_factors_`` or ``item_vectors_``, else a random projection of its co-occurrence row)
and ``p_u`` the unit mean of the user's history vectors. Slots are filled ε-greedily (the
best remaining UCB with probability 1 − ε, a uniform remaining candidate otherwise), so each
slot's propensity is exact and is logged with the list. :func:`off_policy_estimate` gives
IPS and SNIPS estimates of another policy's reward from such a log.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from trustrec.errors import ConfigError, DataError
from trustrec.models.base import Recommender


def item_context(model: Recommender, dim: int = 32, seed: int = 0) -> np.ndarray:
    """Unit item vectors (n_items, d) float32: learned factors or text vectors when the model
    has them, else ``Xᵀ(X R)`` — a ``dim``-wide random projection of co-occurrence rows."""
    vectors = getattr(model, "item_factors_", None)
    if vectors is None:
        vectors = getattr(model, "item_vectors_", None)
    if vectors is None:
        rng = np.random.default_rng(seed)
        proj = rng.standard_normal((model.n_items_, dim)).astype(np.float32) / np.sqrt(dim)
        vectors = model.seen_.T @ (model.seen_ @ proj)
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def contexts(item_vectors: np.ndarray, history: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Context rows (len(candidates), d + 2) for a user with ``history`` (item indices),
    candidates given best first by the model."""
    profile = item_vectors[history].mean(axis=0) if len(history) else \
        np.zeros(item_vectors.shape[1], np.float32)
    profile = profile / max(float(np.linalg.norm(profile)), 1e-12)
    n = len(candidates)
    rank = 1.0 - np.arange(n, dtype=np.float32) / max(n, 1)
    return np.hstack([item_vectors[candidates] * profile, rank[:, None],
                      np.ones((n, 1), np.float32)]).astype(np.float64)


class LinUCB:
    """Linear UCB with one shared parameter vector and ε-greedy slot filling."""

    def __init__(self, dim: int, alpha: float = 0.5, epsilon: float = 0.1, ridge: float = 1.0,
                 seed: int = 0) -> None:
        if dim < 1 or alpha < 0 or not 0.0 <= epsilon <= 1.0 or ridge <= 0:
            raise ConfigError(f"LinUCB: need dim ≥ 1, alpha ≥ 0, epsilon in [0, 1], ridge > 0; "
                              f"got {dim}, {alpha}, {epsilon}, {ridge}")
        self.alpha, self.epsilon = alpha, epsilon
        self.a_inv = np.eye(dim) / ridge
        self.b = np.zeros(dim)
        self.rng = np.random.default_rng(seed)

    def ucb(self, x: np.ndarray) -> np.ndarray:
        """Upper confidence bound of each context row."""
        theta = self.a_inv @ self.b
        width = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", x, self.a_inv, x), 0.0))
        return x @ theta + self.alpha * width

    def select(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Fill ``min(k, len(x))`` slots; returns (row indices into ``x``, propensities)."""
        n = len(x)
        k = min(k, n)
        order = np.argsort(-self.ucb(x), kind="stable")
        remaining = np.ones(n, dtype=bool)
        chosen = np.empty(k, dtype=np.int64)
        propensity = np.empty(k, dtype=np.float64)
        explore = self.rng.random(k) < self.epsilon
        best = 0
        for slot in range(k):  # k slots, each O(1) amortised except an exploring draw
            while not remaining[order[best]]:
                best += 1
            left = n - slot
            pick = order[best]
            if explore[slot]:
                pick = int(np.flatnonzero(remaining)[self.rng.integers(left)])
            chosen[slot] = pick
            propensity[slot] = self.epsilon / left + (1.0 - self.epsilon) * (pick == order[best])
            remaining[pick] = False
        return chosen, propensity

    def update(self, x: np.ndarray, rewards: np.ndarray) -> None:
        """Learn from context rows ``x`` and their rewards (Sherman–Morrison per row)."""
        for row, reward in zip(np.atleast_2d(x), np.atleast_1d(rewards), strict=True):
            ax = self.a_inv @ row
            self.a_inv -= np.outer(ax, ax) / (1.0 + row @ ax)
            self.b += reward * row


class BanditLayer:
    """LinUCB over a model's top candidates with feedback from the event stream.

    A served list stays pending per user; a positive event on one of its items is reward 1,
    a dislike reward 0, and when the user is served again the untouched items of the previous
    list count as reward 0. Thread-safe; state lives in memory (per worker process).
    """

    def __init__(self, model: Recommender, candidates: int = 50, alpha: float = 0.5,
                 epsilon: float = 0.1, seed: int = 0, max_pending: int = 100_000) -> None:
        self.item_vectors = item_context(model, seed=seed)
        self.policy = LinUCB(self.item_vectors.shape[1] + 2, alpha, epsilon, seed=seed)
        self.candidates, self.max_pending = candidates, max_pending
        self._pending: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def serve(self, user_id: str, ranked: np.ndarray, history: np.ndarray,
              k: int) -> tuple[np.ndarray, np.ndarray]:
        """Choose ``k`` of the model's ``ranked`` items (best first); returns (items,
        propensities) and remembers the list for feedback."""
        pool = ranked[:max(self.candidates, k)]
        x = contexts(self.item_vectors, history, pool)
        with self._lock:
            old = self._pending.pop(user_id, None)
            if old is not None:
                self.policy.update(old[1], np.zeros(len(old[0])))
            rows, propensity = self.policy.select(x, k)
            self._pending[user_id] = (pool[rows], x[rows])
            while len(self._pending) > self.max_pending:
                self._pending.popitem(last=False)
        return pool[rows], propensity

    def forget(self, user_id: str) -> None:
        """Drop the user's pending list (their data is being erased)."""
        with self._lock:
            self._pending.pop(user_id, None)

    def pending_users(self) -> list[str]:
        """Users with a served list awaiting feedback."""
        with self._lock:
            return list(self._pending)

    def feedback(self, user_id: str, item: int, positive: bool) -> bool:
        """Reward the pending list's ``item`` for ``user_id``; whether it was pending."""
        with self._lock:
            pending = self._pending.get(user_id)
            if pending is None or item not in pending[0]:
                return False
            hit = pending[0] == item
            self.policy.update(pending[1][hit], np.full(int(hit.sum()), float(positive)))
            self._pending[user_id] = (pending[0][~hit], pending[1][~hit])
            return True


@dataclass(frozen=True)
class ReplayEstimate:
    """Off-policy estimates of a target policy's mean reward per logged slot."""

    ips: float
    snips: float
    n: int
    effective_sample_size: float
    logged_mean_reward: float

    def to_dict(self) -> dict[str, float]:
        """Plain dict for JSON and tables."""
        return asdict(self)


def off_policy_estimate(rewards: Sequence[float] | np.ndarray,
                        logging_propensity: Sequence[float] | np.ndarray,
                        target_propensity: Sequence[float] | np.ndarray) -> ReplayEstimate:
    """IPS ``mean(r·w)`` and SNIPS ``Σ r·w / Σ w`` with ``w = π_target / π_logging``."""
    r = np.asarray(rewards, dtype=np.float64)
    mu = np.asarray(logging_propensity, dtype=np.float64)
    pi = np.asarray(target_propensity, dtype=np.float64)
    if not (r.shape == mu.shape == pi.shape) or r.ndim != 1 or len(r) == 0:
        raise DataError(f"off-policy estimate: rewards, logging and target propensities must be "
                        f"equal non-empty 1-D arrays; got {r.shape}, {mu.shape}, {pi.shape}")
    if (mu <= 0).any() or (mu > 1).any() or (pi < 0).any() or (pi > 1).any():
        raise DataError("off-policy estimate: logging propensities must be in (0, 1] and "
                        "target propensities in [0, 1]")
    w = pi / mu
    total = float(w.sum())
    return ReplayEstimate(
        ips=float((r * w).mean()),
        snips=float((r * w).sum() / total) if total > 0 else 0.0,
        n=len(r),
        effective_sample_size=total ** 2 / float((w ** 2).sum()) if total > 0 else 0.0,
        logged_mean_reward=float(r.mean()))


def logged_rewards(served: pd.DataFrame, events: pd.DataFrame,
                   window_s: float = 3600.0) -> pd.DataFrame:
    """The served log (``EventStore.served_log``) with a ``reward`` column: 1 when the user
    sent a positive event on the item within ``window_s`` seconds after it was served.
    ``events`` is ``EventStore.export()`` output."""
    positive = events.loc[events["type"] != "dislike", ["user_id", "item_id", "timestamp"]]
    log = served.reset_index(drop=True).assign(_row=lambda f: np.arange(len(f)))
    pairs = log.merge(positive, on=["user_id", "item_id"], how="inner")
    delay = pairs["timestamp"].to_numpy(np.float64) - pairs["served_at"].to_numpy(np.float64)
    hit_rows = pairs.loc[(delay >= -1.0) & (delay <= window_s), "_row"].unique()
    reward = np.zeros(len(log))
    reward[hit_rows] = 1.0
    return log.drop(columns="_row").assign(reward=reward)


def deterministic_target(log: pd.DataFrame, lists: Mapping[str, Sequence[str]]) -> np.ndarray:
    """Target propensities of a deterministic policy that would show ``lists[user]``: 1 where
    the logged slot's item is the target's item at the same position, else 0."""
    log = log.reset_index(drop=True)
    out = np.zeros(len(log))
    for user, frame in log.groupby("user_id", sort=False):  # one pass per user, not per slot
        target = np.asarray(lists.get(str(user), ()), dtype=object)
        pos = frame["position"].to_numpy()
        inside = pos < len(target)
        match = np.zeros(len(frame), dtype=bool)
        match[inside] = target[pos[inside]] == frame["item_id"].to_numpy(dtype=object)[inside]
        out[frame.index.to_numpy()[match]] = 1.0
    return out
