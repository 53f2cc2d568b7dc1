"""``linear``: an explainable model — a ridge-regression weighted sum of named features.

The score of a pair ``(u, i)`` is ``intercept + Σ_f contribution_f`` with
``contribution_f = β_f · (x_f(u, i) − mean_f)``: each feature's push relative to the
average training pair, so the contributions add up to the prediction exactly.

Features (all computable for items nobody has interacted with):

* ``user_activity``, ``item_popularity``: ``log(1 + count)`` of the training interactions;
* explicit data only: ``user_mean_rating``, ``item_mean_rating``: mean rating minus the
  global mean, shrunk towards 0 by ``mean_shrinkage`` pseudo-ratings;
* ``user_genre_affinity``: over the item's genres, the mean share of the user's history
  having that genre (when the item table has ``genres``);
* ``profile_similarity``: cosine of the item's (centred) text vector and the user's
  profile (the rating-weighted mean of the vectors of their history, as in ``content``);
* ``genre:<G>``: one-hot indicators of the ``max_genres`` most frequent genres;
* ``topic<t>:<words>``: cosine of the item's text vector and the centroid of topic ``t``
  (seeded spherical k-means on the item vectors), named by the genres and title words
  most typical of its items.

History features of a pair the model was trained on leave that pair out (a user's own
rating never explains itself), so training rows look like the unseen pairs the model
ranks. Targets (``target``): ``rating`` — the ratings (then ``predicts_ratings`` is true
and predictions are unclipped, to keep the sum exact); ``interaction`` — 1 for every
interaction, 0 for ``negatives`` sampled unobserved items per interaction (seeded), a
ranking model; ``auto``: ``rating`` on explicit data, else ``interaction``. Rating
regression ranks poorly (it ignores which items people choose to rate): for top-N lists
on explicit data use ``target=interaction``.
Ridge regression on standardised features in closed form, accumulated over chunks of
pairs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from trustrec.data.dataset import Dataset
from trustrec.errors import ModelError
from trustrec.models.config import require
from trustrec.models.content import (
    TextConfig,
    TextVectorModel,
    align_to,
    interaction_weights,
    unit_rows,
    with_data,
)
from trustrec.models.registry import register

#: Pairs whose features (and gathered text vectors) are held in memory at once.
PAIR_CHUNK = 32_768
_WORD = re.compile(r"[a-z][a-z'-]{2,}")
#: Title words too common to name a topic (words under three letters never do).
_STOPWORDS = frozenset("the and for with from into our his her its their your you are was "
                       "not but all who how why what when about after before under over "
                       "les des une".split())


@dataclass(frozen=True)
class LinearConfig(TextConfig):
    """``target``: 'rating', 'interaction' or 'auto' (see the module docstring);
    ``n_topics``: text topics (0: none); ``max_genres``: genre one-hot features;
    ``l2`` (> 0): ridge penalty on standardised features (the topic and genre features
    overlap, so some is always needed); ``negatives``: sampled unobserved
    items per interaction (implicit data); ``mean_shrinkage``: pseudo-ratings shrinking
    the mean-rating features; ``seed``: negatives and topic clustering."""

    target: Literal["auto", "rating", "interaction"] = "auto"
    n_topics: int = 8
    max_genres: int = 20
    l2: float = 1.0
    negatives: int = 3
    mean_shrinkage: float = 5.0
    seed: int = 0

    def check(self) -> None:
        """Validate ranges (``ConfigError`` naming the parameter)."""
        super().check()
        require(self.n_topics >= 0, "linear", "n_topics", "≥ 0", self.n_topics)
        require(self.max_genres >= 0, "linear", "max_genres", "≥ 0", self.max_genres)
        require(math.isfinite(self.l2) and self.l2 > 0, "linear", "l2", "a finite number > 0",
                self.l2)
        require(self.negatives >= 1, "linear", "negatives", "≥ 1", self.negatives)
        require(math.isfinite(self.mean_shrinkage) and self.mean_shrinkage >= 0, "linear",
                "mean_shrinkage", "a finite number ≥ 0", self.mean_shrinkage)


def genre_matrix(items: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(names, matrix)``: genres (``|``-separated column ``genres``) by item frequency,
    then name; matrix (n_items, n_genres) of 0/1 float32. No column: no genres."""
    if "genres" not in items.columns:
        return np.empty(0, dtype=str), np.zeros((len(items), 0), np.float32)
    dummies = items["genres"].fillna("").astype(str).str.get_dummies(sep="|")
    dummies = dummies.drop(columns=[c for c in dummies.columns if not c.strip()])
    counts = dummies.sum(axis=0)
    order = sorted(dummies.columns, key=lambda name: (-counts[name], name))
    return np.asarray(order, dtype=str), dummies[order].to_numpy(np.float32)


def spherical_kmeans(x: np.ndarray, k: int, seed: int, iterations: int = 30) -> np.ndarray:
    """``k`` unit centroids of the unit rows of ``x`` (k-means++ start, cosine assignment);
    an emptied cluster restarts at the row worst served by its centroid."""
    rng = np.random.default_rng(seed)
    n = len(x)
    centroids = np.empty((k, x.shape[1]), dtype=np.float64)
    centroids[0] = x[rng.integers(n)]
    gap = 1.0 - x @ centroids[0]
    for t in range(1, k):
        p = np.clip(gap, 0, None)
        centroids[t] = x[rng.choice(n, p=p / p.sum()) if p.sum() > 0 else rng.integers(n)]
        gap = np.minimum(gap, 1.0 - x @ centroids[t])
    assign = np.full(n, -1)
    for _ in range(iterations):
        sims = x @ centroids.T
        new = sims.argmax(axis=1)
        if np.array_equal(new, assign):
            break
        assign = new
        sums = sp.csr_matrix((np.ones(n), (assign, np.arange(n))), shape=(k, n)) @ x
        empty = np.flatnonzero(np.bincount(assign, minlength=k) == 0)
        sums[empty] = x[np.argsort(sims.max(axis=1), kind="stable")[:len(empty)]]
        centroids = unit_rows(sums).astype(np.float64)
    return centroids


def topic_names(assign: np.ndarray, items: pd.DataFrame, k: int, n_words: int = 3) -> list[str]:
    """``topic<t>:<w1>,<w2>,…``: the genres and title words most typical of topic ``t``'s
    items (count × log lift over all items, counted once per item)."""
    items = items.reset_index(drop=True)
    titles = items["title"] if "title" in items.columns else pd.Series("", index=items.index)
    genres = items["genres"] if "genres" in items.columns else pd.Series("", index=items.index)
    words = titles.fillna("").astype(str).str.lower().str.findall(_WORD).map(
        lambda found: [w for w in found if w not in _STOPWORDS])
    tokens = words + genres.fillna("").astype(str).str.split("|")
    long = tokens.explode().dropna()
    long = long[long.str.strip() != ""]
    pairs = pd.DataFrame({"item": np.asarray(long.index), "token": long.to_numpy()})
    pairs = pairs.drop_duplicates()
    codes, vocab = pd.factorize(pairs["token"], sort=True)
    n_items = len(items)
    member = sp.csr_matrix((np.ones(len(pairs)), (pairs["item"].to_numpy(), codes)),
                           shape=(n_items, len(vocab)))
    cluster = sp.csr_matrix((np.ones(n_items), (assign, np.arange(n_items))), shape=(k, n_items))
    count = (cluster @ member).toarray()
    size = np.bincount(assign, minlength=k)[:, None]
    overall = np.asarray(member.sum(axis=0)).ravel() / max(n_items, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.log((count / np.maximum(size, 1)) / overall)
        score = np.where((count >= np.minimum(2, size)) & (lift > np.log(1.5)), count * lift,
                         -np.inf)
    names = []
    for t in range(k):
        best = np.argsort(-score[t], kind="stable")[:n_words]
        best = best[np.isfinite(score[t, best])]
        label = ",".join(str(vocab[j]) for j in best) or "misc"
        names.append(f"topic{t + 1}:{label}")
    return names


@register
class LinearModel(TextVectorModel):
    """Ridge regression on named user, item and text features (see the module docstring)."""

    name = "linear"
    config_class = LinearConfig

    # ------------------------------------------------------------------ fitting
    def _fit(self, dataset: Dataset) -> None:
        cfg = self.config
        self._encode_items(dataset)
        self.explicit_ = bool(dataset.explicit)
        if cfg.target == "rating" and not dataset.explicit:
            raise ModelError(f"model 'linear': target 'rating' needs explicit ratings; dataset "
                             f"'{dataset.name}' is implicit (use target=interaction)")
        self.rating_target_ = self.explicit_ if cfg.target == "auto" else cfg.target == "rating"
        self.genre_names_, self.genres_ = genre_matrix(dataset.items)
        k = min(cfg.n_topics, dataset.n_items)
        if k:
            self.topics_ = spherical_kmeans(self.item_vectors_.astype(np.float64), k, cfg.seed)
            assign = (self.item_vectors_ @ self.topics_.T).argmax(axis=1)
            self.topic_names_ = np.asarray(topic_names(assign, dataset.items, k), dtype=str)
        else:
            self.topics_ = np.zeros((0, self.item_vectors_.shape[1]))
            self.topic_names_ = np.empty(0, dtype=str)
        self.seen_values_ = dataset.csr.data.astype(np.float64)
        weights = interaction_weights(dataset, rating_centering=True)
        self.seen_weights_ = align_to(self.seen_, dataset.user, dataset.item, weights)
        self._derive()
        self.feature_names_ = self._names()
        self._solve()

    def _derive(self) -> None:
        """Per-user and per-item statistics the features read (from the stored state)."""
        cfg = self.config
        self.predicts_ratings = self.rating_target_  # an instance attribute: set by fit
        users = np.repeat(np.arange(self.n_users_), np.diff(self.seen_.indptr))
        items = self.seen_.indices
        self.user_count_ = np.diff(self.seen_.indptr).astype(np.float64)
        self.item_count_ = np.bincount(items, minlength=self.n_items_).astype(np.float64)
        self.mu_ = float(self.seen_values_.mean()) if len(self.seen_values_) else 0.0
        dev = self.seen_values_ - self.mu_
        self.user_dev_ = np.bincount(users, weights=dev, minlength=self.n_users_)
        self.item_dev_ = np.bincount(items, weights=dev, minlength=self.n_items_)
        self.user_genres_ = np.asarray(self.seen_ @ self.genres_, dtype=np.float64)
        self.genre_sizes_ = self.genres_.sum(axis=1).astype(np.float64)
        self.n_onehot_ = min(cfg.max_genres, len(self.genre_names_))
        vectors = self.item_vectors_.astype(np.float64)
        self.profile_sums_ = with_data(self.seen_, self.seen_weights_) @ vectors
        self.profile_norm2_ = np.einsum("ud,ud->u", self.profile_sums_, self.profile_sums_)
        self.topic_sims_ = vectors @ self.topics_.T
        self.values_csr_ = with_data(self.seen_, self.seen_values_)
        self.weights_csr_ = with_data(self.seen_, self.seen_weights_)

    def _names(self) -> list[str]:
        names = ["user_activity", "item_popularity"]
        if self.explicit_:
            names += ["user_mean_rating", "item_mean_rating"]
        if len(self.genre_names_):
            names.append("user_genre_affinity")
        names.append("profile_similarity")
        names += [f"genre:{g}" for g in self.genre_names_[:self.n_onehot_]]
        return names + [str(t) for t in self.topic_names_]

    def _training_pairs(self) -> Iterator[tuple[np.ndarray, ...]]:
        """Chunks of ``(users, items, held, value, weight, target)`` to regress on."""
        cfg = self.config
        users = np.repeat(np.arange(self.n_users_, dtype=np.int32), np.diff(self.seen_.indptr))
        items = self.seen_.indices.astype(np.int32)
        rng = np.random.default_rng(cfg.seed)
        step = PAIR_CHUNK if self.rating_target_ else max(1, PAIR_CHUNK // (1 + cfg.negatives))
        for start in range(0, len(users), step):
            sl = slice(start, start + step)
            u, i = users[sl], items[sl]
            value, weight = self.seen_values_[sl], self.seen_weights_[sl]
            ones = np.ones(len(u))
            if self.rating_target_:
                yield u, i, ones, value, weight, value
                continue
            yield u, i, ones, value, weight, ones
            neg_u = np.repeat(u, cfg.negatives)
            neg_i = rng.integers(0, self.n_items_, size=len(neg_u), dtype=np.int32)
            keep = self._lookup(self.seen_, neg_u, neg_i) == 0
            zeros = np.zeros(int(keep.sum()))
            yield neg_u[keep], neg_i[keep], zeros, zeros, zeros, zeros

    def _solve(self) -> None:
        """Closed-form ridge on standardised features, from accumulated Gram matrices."""
        n_feat = len(self.feature_names_)
        gram = np.zeros((n_feat + 1, n_feat + 1))
        moment = np.zeros(n_feat + 1)
        for users, items, held, value, weight, target in self._training_pairs():
            x = np.column_stack([np.ones(len(users)),
                                 *self._columns(users, items, False, held, value, weight)])
            gram += x.T @ x
            moment += x.T @ target
        n = gram[0, 0]
        mean = gram[0, 1:] / n
        y_mean = moment[0] / n
        cov = gram[1:, 1:] - n * np.outer(mean, mean)
        cross = moment[1:] - mean * moment[0]
        scale = np.sqrt(np.clip(np.diag(cov), 0, None) / n)
        scale[scale < 1e-12] = 1.0  # a constant feature: its coefficient stays 0
        lhs = cov / np.outer(scale, scale) + self.config.l2 * np.eye(n_feat)
        gamma = np.linalg.solve(lhs, cross / scale)
        self.coef_ = gamma / scale
        self.feature_means_ = mean
        self.intercept_ = float(y_mean)

    # ------------------------------------------------------------------ features
    @staticmethod
    def _lookup(matrix: sp.csr_matrix, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        if len(users) == 0:
            return np.zeros(0)
        return np.asarray(matrix[users, items], dtype=np.float64).ravel()

    def _columns(self, users: np.ndarray, items: np.ndarray, dense: bool,
                 held: np.ndarray | float = 0.0, value: np.ndarray | float = 0.0,
                 weight: np.ndarray | float = 0.0) -> list[np.ndarray]:
        """Feature columns in ``feature_names_`` order.

        Pairs (``dense`` false): 1-D arrays over ``zip(users, items)``, leaving out the
        training pair where ``held`` is 1 (with its ``value`` and profile ``weight``).
        Dense: every user × every item of ``items``, nothing held out; user-only columns
        are (b, 1), item-only ones (1, m), the rest (b, m).
        """
        def per_user(x: np.ndarray) -> np.ndarray:
            return x[users][:, None] if dense else x[users]

        def per_item(x: np.ndarray) -> np.ndarray:
            return x[items][None, :] if dense else x[items]

        def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return a @ b.T if dense else np.einsum("nd,nd->n", a, b)

        n_user = per_user(self.user_count_) - held
        n_item = per_item(self.item_count_) - held
        cols = [np.log1p(n_user), np.log1p(n_item)]
        if self.explicit_:
            own = held * (value - self.mu_)
            shrink = self.config.mean_shrinkage
            cols.append((per_user(self.user_dev_) - own) / np.maximum(n_user + shrink, 1e-12))
            cols.append((per_item(self.item_dev_) - own) / np.maximum(n_item + shrink, 1e-12))
        if len(self.genre_names_):
            size = per_item(self.genre_sizes_)
            shared = dot(self.user_genres_[users], self.genres_[items]) - held * size
            cols.append(shared / (np.maximum(size, 1) * np.maximum(n_user, 1)))
        vectors = self.item_vectors_[items].astype(np.float64)
        pv = dot(self.profile_sums_[users], vectors)
        norm2 = per_user(self.profile_norm2_) - 2 * weight * pv + weight * weight
        norm = np.sqrt(np.clip(norm2, 0, None))
        cols.append(np.divide(pv - weight, norm, out=np.zeros(np.broadcast(pv, norm).shape),
                              where=norm > 1e-9))
        cols += [per_item(self.genres_[:, g]) for g in range(self.n_onehot_)]
        cols += [per_item(self.topic_sims_[:, t]) for t in range(len(self.topic_names_))]
        return cols

    # ------------------------------------------------------------------ inference
    @property
    def feature_names(self) -> list[str]:
        """Names of the features, in the column order of :meth:`contributions`."""
        self._check_fitted()
        return list(self.feature_names_)

    @property
    def intercept(self) -> float:
        """The prediction for a pair whose features all equal their training means."""
        self._check_fitted()
        return self.intercept_

    def _contributions(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        out = np.empty((len(users), len(self.feature_names_)))
        for start in range(0, len(users), PAIR_CHUNK):
            u, i = users[start:start + PAIR_CHUNK], items[start:start + PAIR_CHUNK]
            held = self._lookup(self.seen_, u, i)
            value = self._lookup(self.values_csr_, u, i)
            weight = self._lookup(self.weights_csr_, u, i)
            x = np.column_stack(self._columns(u, i, False, held, value, weight))
            out[start:start + PAIR_CHUNK] = (x - self.feature_means_) * self.coef_
        return out

    def contributions(self, users: np.ndarray | list[int],
                      items: np.ndarray | list[int]) -> np.ndarray:
        """Each feature's push on the prediction of ``(users[i], items[i])``: (n, n_features)
        float64, with ``contributions.sum(axis=1) + intercept == predict(users, items)``."""
        self._check_fitted()
        users, items = self._check_users(users), self._check_items(items)
        if len(users) != len(items):
            raise ModelError(f"contributions: {len(users)} users but {len(items)} items")
        return self._contributions(users, items)

    def explain(self, user: int, item: int) -> list[tuple[str, float]]:
        """``(feature, contribution)`` of one pair, largest ``|contribution|`` first."""
        row = self.contributions([user], [item])[0]
        order = np.argsort(-np.abs(row), kind="stable")
        return [(self.feature_names_[j], float(row[j])) for j in order]

    def user_profiles(self, users: np.ndarray | list[int]) -> np.ndarray:
        """Unit text profile vectors (len(users), dim); zero for users without history."""
        self._check_fitted()
        return unit_rows(self.profile_sums_[self._check_users(users)])

    def _predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.intercept_ + self._contributions(users, items).sum(axis=1)

    def _score(self, users: np.ndarray) -> np.ndarray:
        all_items = np.arange(self.n_items_)
        out = np.full((len(users), self.n_items_), self.intercept_)
        for col, beta, mean in zip(self._columns(users, all_items, True), self.coef_,
                                   self.feature_means_, strict=True):
            out += beta * (col - mean)
        block = self.seen_[users]  # training pairs: their features leave the pair out
        rows = np.repeat(np.arange(len(users)), np.diff(block.indptr))
        out[rows, block.indices] = self._predict(users[rows], block.indices)
        return out

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, np.ndarray]:
        return {
            **self._text_state(),
            "explicit": np.asarray([self.explicit_]),
            "rating_target": np.asarray([self.rating_target_]),
            "genre_names": self.genre_names_, "genres": self.genres_,
            "topics": self.topics_, "topic_names": self.topic_names_,
            "seen_values": self.seen_values_, "seen_weights": self.seen_weights_,
            "feature_names": np.asarray(self.feature_names_, dtype=str),
            "coef": self.coef_, "feature_means": self.feature_means_,
            "intercept": np.asarray([self.intercept_]),
        }

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        self._load_text_state(arrays)
        self.explicit_ = bool(arrays["explicit"][0])
        self.rating_target_ = bool(arrays["rating_target"][0])
        self.genre_names_, self.genres_ = arrays["genre_names"], arrays["genres"]
        self.topics_, self.topic_names_ = arrays["topics"], arrays["topic_names"]
        self.seen_values_, self.seen_weights_ = arrays["seen_values"], arrays["seen_weights"]
        nnz, dim = self.seen_.nnz, self.item_vectors_.shape[1]
        expected = {"genres": (self.n_items_, len(self.genre_names_)),
                    "topics": (len(self.topic_names_), dim),
                    "seen_values": (nnz,), "seen_weights": (nnz,)}
        for key, shape in expected.items():
            if arrays[key].shape != shape:
                raise ValueError(f"{key} has shape {arrays[key].shape}, expected {shape}")
        self._derive()
        self.feature_names_ = self._names()
        if self.feature_names_ != arrays["feature_names"].tolist():
            raise ValueError("feature_names do not match the stored genres and topics")
        n_feat = len(self.feature_names_)
        for key in ("coef", "feature_means"):
            if arrays[key].shape != (n_feat,):
                raise ValueError(f"{key} has shape {arrays[key].shape}, expected ({n_feat},)")
        self.coef_, self.feature_means_ = arrays["coef"], arrays["feature_means"]
        self.intercept_ = float(arrays["intercept"][0])
