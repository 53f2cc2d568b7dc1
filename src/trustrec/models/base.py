"""The ``Recommender`` contract and the machinery every model shares.

A model subclass sets ``name`` and ``config_class`` and implements four methods:
``_fit(dataset)``, ``_score(users) -> (b, n_items)``, ``_state() -> arrays`` and
``_load_state(arrays)``. Everything else — fitted checks, batched scoring, seen-item
masking, candidate sets, deterministic top-K, cold-user fallback, save/load with a
verified manifest — lives here once.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from trustrec import __version__
from trustrec.data.dataset import Dataset
from trustrec.data.ids import IdIndex
from trustrec.data.recommendations import Recommendations
from trustrec.data.sparse import binarized
from trustrec.errors import ArtifactError, ModelError
from trustrec.models import artifact
from trustrec.models.config import Config
from trustrec.models.topk import mask_seen, top_k

log = logging.getLogger(__name__)

#: Upper bound on the number of floats in one dense score block (users × items).
SCORE_BLOCK = 1 << 23


class Recommender:
    """Base class of all trustrec models (``fit`` → ``score`` / ``recommend`` / ``predict``).

    Users and items are dense indices of the training ``Dataset``'s ``IdIndex``es; see
    :mod:`trustrec.models.external` for calls with external IDs. Learned state ends in
    ``_``; ``__init__`` only stores the configuration.
    """

    name: ClassVar[str] = "base"
    config_class: ClassVar[type[Config]] = Config
    #: True for models whose ``predict`` estimates ratings on the training scale.
    predicts_ratings: ClassVar[bool] = False
    #: False for models whose artifact is a differentially private release: ``save`` then
    #: writes no training user IDs, histories, user count, rating mean or data fingerprint,
    #: and the loaded model serves histories given at call time (``score_history``).
    stores_training_users: ClassVar[bool] = True

    def __init__(self, config: Config | None = None, **params: Any) -> None:
        if config is not None and not isinstance(config, self.config_class):
            raise ModelError(f"model '{self.name}' expects a {self.config_class.__name__}, "
                             f"got {type(config).__name__}")
        base = config if config is not None else self.config_class()
        self.config = base.replace(**params) if params else base
        self.fitted_ = False

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.to_dict().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ subclass hooks
    def _fit(self, dataset: Dataset) -> None:
        raise NotImplementedError

    def _score(self, users: np.ndarray) -> np.ndarray:
        """Scores of all items for ``users`` (int32 indices): float array (len(users), n_items)."""
        raise NotImplementedError

    def _predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Score of each ``(users[i], items[i])`` pair; override with a cheaper formula."""
        out = np.empty(len(users), dtype=np.float32)
        uniq, inverse = np.unique(users, return_inverse=True)
        step = max(1, SCORE_BLOCK // max(1, self.n_items_))
        for start in range(0, len(uniq), step):
            block = self._score(uniq[start:start + step])
            sel = (inverse >= start) & (inverse < start + step)
            out[sel] = block[inverse[sel] - start, items[sel]]
        return out

    def _predict_partial(self, users: np.ndarray, items: np.ndarray, user_known: np.ndarray,
                         item_known: np.ndarray) -> np.ndarray | None:
        """Estimates for pairs whose user or item (or both) the model never saw (``users`` /
        ``items`` are 0 where not known); None when the model has no such estimate and
        callers fall back to a constant (see :func:`trustrec.models.external.predict_external`)."""
        return None

    def _score_history(self, items: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Scores (n_items,) for a history given at call time (item indices in time order and
        their values) instead of a trained user; models that can do this override it."""
        raise ModelError(f"model '{self.name}' cannot recommend from a given history without "
                         "retraining; models that can: itemknn, ease, hybrid, als, content, "
                         "popularity and the sequential models")

    def _state(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def _manifest_extra(self) -> dict[str, Any]:
        """JSON-ready facts about the fit (e.g. a privacy guarantee) that ``save`` writes into
        the manifest under ``extra``; ``load`` hands them back to :meth:`_load_manifest_extra`."""
        return {}

    def _load_manifest_extra(self, extra: dict[str, Any]) -> None:
        """Restore what :meth:`_manifest_extra` wrote (default: nothing to restore)."""

    def training_values(self) -> np.ndarray | None:
        """The training values the fit read, aligned with ``seen_``'s entries, when the
        model keeps all its fit reads (so it can be refitted from itself); None otherwise."""
        return None

    def _downdate(self, old: Self, users: np.ndarray, dataset: Dataset,
                  exact: bool) -> str | None:
        """Unlearning hook: set this model's learned state to what a fit on ``dataset``
        (``old``'s training data without user indices ``users``; the fit's bookkeeping is
        done) would give, from ``old``'s learned state, and return the method's name; None
        (the default) where the model has no such down-date or a refit is cheaper.
        ``exact=False`` admits a down-date that differs from a refit (its name says so)."""
        return None

    # ------------------------------------------------------------------ fitting
    def fit(self, dataset: Dataset) -> Self:
        """Learn from ``dataset``; returns ``self``."""
        if len(dataset) == 0:
            raise ModelError(f"model '{self.name}': cannot fit on an empty dataset")
        self._set_training_data(dataset)
        self._fit(dataset)
        self.fitted_ = True
        return self

    def _set_training_data(self, dataset: Dataset) -> None:
        """The fit's bookkeeping: indices, sizes, ``seen_``, popularity, mean, fingerprint."""
        self.user_index_: IdIndex = dataset.user_index
        self.item_index_: IdIndex = dataset.item_index
        self.n_users_ = dataset.n_users
        self.n_items_ = dataset.n_items
        seen = binarized(dataset.csr)
        self.seen_: sp.csr_matrix = seen
        self.item_popularity_ = np.asarray(seen.sum(axis=0)).ravel().astype(np.float32)
        self.train_mean_ = float(dataset.value.mean())
        self.fingerprint_ = dataset.fingerprint()

    def unlearned(self, users: np.ndarray, remaining: Dataset,
                  exact: bool = True) -> tuple[Self, str] | None:
        """``(model, method)``: this model as a fit on ``remaining`` (its training data
        without user indices ``users``) gives, by the model's own down-date of its fitted
        state; None where it has none or a refit is cheaper. This model is not modified."""
        self._check_fitted()
        new = type(self)(self.config)
        new._set_training_data(remaining)
        method = new._downdate(self, users, remaining, exact)
        if method is None:
            return None
        new.fitted_ = True
        return new, method

    def _check_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise ModelError(f"model '{self.name}' is not fitted; call fit() or load() first")

    def _check_users(self, users: np.ndarray | list[int] | int) -> np.ndarray:
        arr = np.atleast_1d(np.asarray(users))
        if arr.dtype.kind not in "iu":
            raise ModelError(f"model '{self.name}': users must be integer indices; use "
                             "trustrec.models.external for external IDs")
        if arr.size and (arr.min() < 0 or arr.max() >= self.n_users_):
            raise ModelError(f"model '{self.name}': user index out of range [0, {self.n_users_})")
        return arr.astype(np.int32)

    def _check_items(self, items: np.ndarray | list[int]) -> np.ndarray:
        arr = np.atleast_1d(np.asarray(items))
        if arr.dtype.kind not in "iu":
            raise ModelError(f"model '{self.name}': items must be integer indices")
        if arr.size and (arr.min() < 0 or arr.max() >= self.n_items_):
            raise ModelError(f"model '{self.name}': item index out of range [0, {self.n_items_})")
        return arr.astype(np.int32)

    # ------------------------------------------------------------------ inference
    @property
    def history_lengths(self) -> np.ndarray:
        """Number of training interactions per user index."""
        self._check_fitted()
        return np.diff(self.seen_.indptr)

    def _score_block(self, users: np.ndarray) -> np.ndarray:
        """Model scores, with popularity for users that had no training interactions."""
        scores = np.asarray(self._score(users), dtype=np.float32)
        cold = np.diff(self.seen_.indptr)[users] == 0
        if cold.any():
            scores = scores.copy() if not scores.flags.writeable else scores
            scores[cold] = self.item_popularity_
        return scores

    def score(self, users: np.ndarray | list[int], items: np.ndarray | None = None) -> np.ndarray:
        """Dense scores (len(users), n_items) — or (len(users), len(items)) for given items."""
        self._check_fitted()
        users = self._check_users(users)
        cols = None if items is None else self._check_items(items)
        width = self.n_items_ if cols is None else len(cols)
        out = np.empty((len(users), width), dtype=np.float32)
        step = max(1, SCORE_BLOCK // max(1, self.n_items_))
        for start in range(0, len(users), step):
            block = self._score_block(users[start:start + step])
            out[start:start + step] = block if cols is None else block[:, cols]
        return out

    def recommend(
        self,
        users: np.ndarray | list[int],
        k: int = 10,
        exclude_seen: bool = True,
        candidates: np.ndarray | None = None,
    ) -> Recommendations:
        """Top-``k`` items per user, best first, ties broken by lower item index.

        ``exclude_seen`` drops items the user interacted with in training; ``candidates``
        (item indices) restricts the lists to that set. Users without training history
        get the most popular items.
        """
        self._check_fitted()
        users = self._check_users(users)
        if k < 1:
            raise ModelError(f"model '{self.name}': k must be ≥ 1, got {k}")
        allowed = None
        if candidates is not None:
            allowed = np.zeros(self.n_items_, dtype=bool)
            allowed[self._check_items(candidates)] = True
        items_out = np.empty((len(users), k), dtype=np.int32)
        scores_out = np.empty((len(users), k), dtype=np.float32)
        step = max(1, SCORE_BLOCK // max(1, self.n_items_))
        for start in range(0, len(users), step):
            rows = users[start:start + step]
            block = np.array(self._score_block(rows), dtype=np.float32, copy=True)
            np.nan_to_num(block, copy=False, nan=-np.inf)
            if exclude_seen:
                mask_seen(block, self.seen_, rows)
            if allowed is not None:
                block[:, ~allowed] = -np.inf
            items_out[start:start + step], scores_out[start:start + step] = top_k(block, k)
        return Recommendations(users=users, items=items_out, scores=scores_out,
                               user_index=self.user_index_, item_index=self.item_index_)

    def score_history(self, items: np.ndarray | list[int],
                      values: np.ndarray | list[float] | None = None) -> np.ndarray:
        """Scores of all items (n_items,) for a user known only by a recent history.

        ``items`` are item indices in time order (oldest first), ``values`` their ratings or
        weights (1 when omitted). No retraining: this is what a live service calls after each
        event, and what serves users who arrived after training.
        """
        self._check_fitted()
        items = self._check_items(items)
        if values is None:
            vals = np.ones(len(items), dtype=np.float32)
        else:
            vals = np.atleast_1d(np.asarray(values, dtype=np.float32))
            if vals.shape != items.shape or not np.isfinite(vals).all():
                raise ModelError(f"model '{self.name}': history values must be {len(items)} "
                                 f"finite numbers, one per item; got shape {vals.shape}")
        if len(items) == 0:
            return self.item_popularity_.copy()
        scores = np.asarray(self._score_history(items, vals), dtype=np.float32)
        return scores.reshape(self.n_items_)

    def recommend_history(
        self,
        items: np.ndarray | list[int],
        k: int = 10,
        values: np.ndarray | list[float] | None = None,
        exclude_seen: bool = True,
        candidates: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (item indices, scores) for a given history; see :meth:`score_history`.

        ``exclude_seen`` drops the history's items; ``candidates`` restricts the list. Slots
        past the last admissible item hold ``PAD`` (-1) with score ``-inf``.
        """
        if k < 1:
            raise ModelError(f"model '{self.name}': k must be ≥ 1, got {k}")
        block = self.score_history(items, values)[None, :].copy()
        np.nan_to_num(block, copy=False, nan=-np.inf)
        if exclude_seen:
            block[0, self._check_items(items)] = -np.inf
        if candidates is not None:
            allowed = np.zeros(self.n_items_, dtype=bool)
            allowed[self._check_items(candidates)] = True
            block[0, ~allowed] = -np.inf
        top_items, top_scores = top_k(block, k)
        return top_items[0], top_scores[0]

    def predict(self, users: np.ndarray | list[int], items: np.ndarray | list[int]) -> np.ndarray:
        """Score (rating estimate for rating models) of each ``(users[i], items[i])`` pair."""
        self._check_fitted()
        users, items = self._check_users(users), self._check_items(items)
        if len(users) != len(items):
            raise ModelError(f"predict: {len(users)} users but {len(items)} items")
        return np.asarray(self._predict(users, items), dtype=np.float32)

    # ------------------------------------------------------------------ persistence
    def to_files(self) -> Iterator[tuple[str, bytes]]:
        """The artifact's files as ``(name, bytes)``, manifest last: what :meth:`save` writes
        and what an encrypted save encrypts (no plaintext on disk)."""
        self._check_fitted()
        arrays = {f"state.{k}": v for k, v in self._state().items()}
        arrays["index.item_ids"] = self.item_index_.ids
        manifest: dict[str, Any] = {
            "model": self.name,
            "config": self.config.to_dict(),
            "trustrec_version": __version__,
            "n_items": self.n_items_,
            "item_id_kind": self.item_index_.kind,
        }
        if self.stores_training_users:
            arrays.update({
                "index.user_ids": self.user_index_.ids,
                "seen.indptr": self.seen_.indptr.astype(np.int64),
                "seen.indices": self.seen_.indices.astype(np.int32),
            })
            manifest.update({
                "dataset_fingerprint": self.fingerprint_,
                "n_users": self.n_users_,
                "train_mean": self.train_mean_,
                "user_id_kind": self.user_index_.kind,
            })
        extra = self._manifest_extra()
        if extra:
            manifest["extra"] = extra
        return artifact.artifact_files(manifest, arrays)

    def save(self, path: str | os.PathLike[str],
             companions: artifact.Companions | None = None) -> Path:
        """Write the model to directory ``path`` (manifest + arrays, no pickle) as its next
        generation, atomically; ``companions`` (e.g. a signature) are made from the new
        manifest's bytes and written before it is committed."""
        return artifact.write_artifact(path, self.to_files(), companions)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Recommender:
        """Load a saved model, verifying every array against the manifest.

        Called on :class:`Recommender` itself it returns whichever model the directory
        holds; called on a subclass it refuses a directory holding another model.
        """
        return cls.from_files(artifact.DirectoryFiles(path), str(path))

    @classmethod
    def from_files(cls, files: Mapping[str, bytes], path: str) -> Recommender:
        """Load a model from its artifact's files by name (see :meth:`load`); ``path`` names
        them in errors."""
        from trustrec.models.registry import get_model_class

        manifest, arrays = artifact.read_artifact(files, path)
        name = manifest.get("model")
        model_cls = get_model_class(str(name)) if cls is Recommender else cls
        if model_cls.name != name:
            raise ArtifactError(f"{path}: holds model '{name}', not '{model_cls.name}'")
        try:
            config = model_cls.config_class.from_params(manifest.get("config", {}), model=name)
            model = model_cls(config)
            model.item_index_ = IdIndex(arrays.pop("index.item_ids"), manifest["item_id_kind"])
            model.n_items_ = int(manifest["n_items"])
            if model_cls.stores_training_users:
                model.user_index_ = IdIndex(arrays.pop("index.user_ids"),
                                            manifest["user_id_kind"])
                model.n_users_ = int(manifest["n_users"])
                indptr, indices = arrays.pop("seen.indptr"), arrays.pop("seen.indices")
                model.train_mean_ = float(manifest["train_mean"])
                model.fingerprint_ = str(manifest["dataset_fingerprint"])
            else:  # a DP release: no training users, histories or raw statistics
                model.user_index_ = IdIndex(np.empty(0, np.int64))
                model.n_users_, indptr, indices = 0, np.zeros(1, np.int64), np.empty(0, np.int32)
                model.train_mean_, model.fingerprint_ = math.nan, ""
            if (len(model.user_index_), len(model.item_index_)) != (model.n_users_,
                                                                     model.n_items_):
                raise ArtifactError(f"{path}: index sizes differ from the manifest")
            model.seen_ = sp.csr_matrix(
                (np.ones(len(indices), np.float32), indices, indptr),
                shape=(model.n_users_, model.n_items_))
            model.item_popularity_ = np.bincount(
                indices, minlength=model.n_items_).astype(np.float32)
            state = {k.removeprefix("state."): v for k, v in arrays.items()}
            model._load_state(state)
            model._load_manifest_extra(dict(manifest.get("extra") or {}))
        except (KeyError, ValueError, TypeError) as exc:
            raise ArtifactError(f"{path}: inconsistent artifact ({type(exc).__name__}: {exc})") \
                from None
        model.fitted_ = True
        return model
