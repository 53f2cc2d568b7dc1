"""``llm_rerank``: a retriever proposes candidates, a language model re-scores them.

1. A retriever (any registered model, ``retriever="ease"`` or ``"hybrid:l2=300"``) ranks
   every item; its top ``candidates`` unseen items are the candidates.
2. The language model scores each candidate by log-probability, never by parsing free
   text (small models copy their input, loop and name non-candidates when asked for a
   list): after the prompt ``A <noun> fan recently chose: <titles and genres of the
   user's history_items most recent items>. The next <noun> they will choose is:`` the
   score of candidate c is the pointwise mutual information
   ``log p(" " + title_c | prompt) − log p(" " + title_c | prompt without history)``, so
   long or rare titles are not penalised for their length.
3. Per user, both scores are standardised over the candidates and blended,
   ``(1 − w)·z(retriever) + w·z(llm)``. ``w`` is chosen on a validation split carved from
   the training data (:func:`~trustrec.data.split.validation_split`; at most
   ``validation_users`` random users) from the grid ``weights`` by NDCG@``k``; the grid
   always holds 0, where the order is the retriever's, so the chosen blend is never worse
   than the retriever on that validation split. The retriever is then refitted on all the
   training data.

Items outside the candidates keep the retriever's order below every candidate. The saved
model holds the configuration, the retriever's own state, the titles, the users' recent
items, ``w`` and the language model's identity — never its weights: a loaded model opens
the language model from its settings (``llm_backend``, ``llm_model``; None: the
``TRUSTREC_LLM_*`` environment) and refuses one with another identity than it was fitted
with. Attach one with :meth:`LLMRerank.use_llm`. Scoring is the slow part (one
log-probability call per user; see ``benchmarks/llm.py``); the answer cache makes repeated
scoring cheap.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd

from trustrec.data.dataset import Dataset
from trustrec.data.recommendations import PAD
from trustrec.data.split import validation_split
from trustrec.errors import ArtifactError, ModelError
from trustrec.llm.base import LanguageModel
from trustrec.models.base import Recommender
from trustrec.models.config import Config, require
from trustrec.models.registry import get_model_class, register
from trustrec.models.spec import ModelSpec

#: Fitted attributes of the base class that the inner retriever shares with its wrapper.
_SHARED = ("user_index_", "item_index_", "n_users_", "n_items_", "seen_", "item_popularity_",
           "train_mean_", "fingerprint_")


@dataclass(frozen=True)
class LLMRerankConfig(Config):
    """``retriever``: model spec ``name`` or ``name:key=value,…``; ``candidates`` (≥ 2):
    items re-scored per user; ``history_items`` (≥ 1): recent items in the prompt;
    ``weights``: comma-separated blend weights in [0, 1] tried on validation (0 is always
    added); ``validation_fraction``, ``validation_users`` (≥ 1), ``k``: the validation split
    and the NDCG cut-off that choose the weight; ``noun``: what the items are, in the
    prompt; ``llm_backend``, ``llm_model``, ``llm_cache_dir``: the language model (None:
    the ``TRUSTREC_LLM_*`` environment, see :mod:`trustrec.llm.settings`); ``seed``."""

    retriever: str = "ease"
    candidates: int = 20
    history_items: int = 5
    weights: str = "0.1,0.2,0.35,0.5,0.75"
    validation_fraction: float = 0.2
    validation_users: int = 200
    k: int = 10
    noun: str = "movie"
    llm_backend: str | None = None
    llm_model: str | None = None
    llm_cache_dir: str | None = None
    seed: int = 0

    def check(self) -> None:
        """Validate ranges (``ConfigError`` naming the parameter)."""
        name = "llm_rerank"
        require(bool(self.retriever.strip()) and not self.retriever.startswith("llm_rerank"),
                name, "retriever", "another registered model's spec", self.retriever)
        require(self.candidates >= 2, name, "candidates", "≥ 2", self.candidates)
        require(self.history_items >= 1, name, "history_items", "≥ 1", self.history_items)
        require(0.0 < self.validation_fraction < 1.0, name, "validation_fraction",
                "in (0, 1)", self.validation_fraction)
        require(self.validation_users >= 1, name, "validation_users", "≥ 1",
                self.validation_users)
        require(self.k >= 1, name, "k", "≥ 1", self.k)
        require(bool(self.noun.strip()), name, "noun", "a word", self.noun)
        try:
            grid = self.grid()
        except ValueError:
            grid = []
        require(bool(grid) and all(0.0 <= w <= 1.0 for w in grid), name, "weights",
                "comma-separated numbers in [0, 1]", self.weights)

    def grid(self) -> list[float]:
        """The blend weights tried on validation, 0 first."""
        values = [float(v) for v in self.weights.split(",") if v.strip()]
        if any(not math.isfinite(v) for v in values):
            raise ValueError(self.weights)
        return sorted({0.0, *values})


def standardise(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` minus their mean, over their standard deviation (rows of zeros where
    it is 0)."""
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=1, keepdims=True)
    spread = centred.std(axis=1, keepdims=True)
    return np.divide(centred, spread, out=np.zeros_like(centred), where=spread > 1e-12)


def blend(retriever: np.ndarray, llm: np.ndarray, weight: float) -> np.ndarray:
    """``(1 − weight)·z(retriever) + weight·z(llm)`` per row (candidates of one user)."""
    return (1.0 - weight) * standardise(retriever) + weight * standardise(llm)


def item_labels(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Per item index: its title and its line in the prompt (title and genres); item IDs
    stand in where the dataset has no item table or titles."""
    ids = pd.Series(np.asarray(dataset.item_index.ids).astype(str))
    table = dataset.items if dataset.items is not None else pd.DataFrame(index=ids.index)
    titles = ids
    if "title" in table:
        given = table["title"].fillna("").astype(str).reset_index(drop=True)
        titles = given.where(given != "", ids)
    lines = titles
    if "genres" in table:
        genres = table["genres"].fillna("").astype(str).str.replace("|", ", ", regex=False)
        genres = genres.reset_index(drop=True)
        lines = (titles + " (" + genres + ")").where(genres != "", titles)
    return titles.to_numpy(dtype=str), lines.to_numpy(dtype=str)


def recent_items(dataset: Dataset, n: int) -> np.ndarray:
    """(n_users, n) int32: each user's ``n`` latest items (by timestamp, else by row
    order), oldest first, left-padded with PAD."""
    stamp = dataset.timestamp if dataset.timestamp is not None else np.zeros(len(dataset))
    order = np.lexsort((np.arange(len(dataset)), stamp, dataset.user))
    users, items = dataset.user[order], dataset.item[order]
    counts = np.bincount(users, minlength=dataset.n_users)
    from_end = np.cumsum(counts)[users] - 1 - np.arange(len(users))
    keep = from_end < n
    out = np.full((dataset.n_users, n), PAD, dtype=np.int32)
    out[users[keep], n - 1 - from_end[keep]] = items[keep]
    return out


@register
class LLMRerank(Recommender):
    """A retriever's top candidates re-scored by a language model's log-probabilities."""

    name = "llm_rerank"
    config_class = LLMRerankConfig

    def __init__(self, config: Config | None = None, **params: Any) -> None:
        super().__init__(config, **params)
        self._lm: LanguageModel | None = None
        self._neutral: dict[int, float] = {}

    # ------------------------------------------------------------------ language model
    def use_llm(self, lm: LanguageModel) -> Self:
        """Use ``lm`` instead of opening the configured language model."""
        self._lm = lm
        self._neutral = {}
        return self

    def language_model(self) -> LanguageModel:
        """The language model (opened from the settings on first use); a fitted model
        refuses one whose identity differs from the one its weight was chosen with."""
        if self._lm is None:
            from trustrec.llm.settings import LLMSettings, open_model

            cfg = self.config
            settings = LLMSettings.from_env(backend=cfg.llm_backend, model=cfg.llm_model,
                                            cache_dir=cfg.llm_cache_dir)
            self._lm = open_model(settings)
        expected = getattr(self, "llm_model_id_", None)
        if expected is not None and self._lm.model_id != expected:
            raise ModelError(f"llm_rerank: fitted with language model '{expected}', but the "
                             f"configured one is '{self._lm.model_id}'; refit, or configure "
                             "the same model (llm_backend/llm_model or TRUSTREC_LLM_*)")
        return self._lm

    def _prompt(self, history: np.ndarray) -> str:
        noun = self.config.noun.strip()
        if not len(history):
            return f"The next {noun} a {noun} fan will choose is:"
        lines = "; ".join(self.item_lines_[history])
        return f"A {noun} fan recently chose: {lines}. The next {noun} they will choose is:"

    def _llm_scores(self, history: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """PMI of each candidate's title after the history prompt (float64)."""
        lm = self.language_model()
        texts = [" " + t for t in self.item_titles_[candidates]]
        given = lm.logprob(self._prompt(history), texts)
        missing = [int(c) for c in candidates if int(c) not in self._neutral]
        if missing:
            prior = lm.logprob(self._prompt(history[:0]),
                               [" " + t for t in self.item_titles_[missing]])
            self._neutral.update(zip(missing, prior.tolist(), strict=True))
        return given - np.array([self._neutral[int(c)] for c in candidates])

    # ------------------------------------------------------------------ fitting
    def _retriever(self, seed: int) -> Recommender:
        return ModelSpec.parse(self.config.retriever).build(seed=seed)

    def _fit(self, dataset: Dataset) -> None:
        cfg = self.config
        self.item_titles_, self.item_lines_ = item_labels(dataset)
        self.recent_ = recent_items(dataset, cfg.history_items)
        inner = validation_split(dataset, cfg.validation_fraction, cfg.seed)
        scout = self._retriever(cfg.seed).fit(inner.train)
        users = np.flatnonzero((inner.test.user_counts() > 0) & (inner.train.user_counts() > 0))
        rng = np.random.default_rng(cfg.seed)
        if len(users) > cfg.validation_users:
            users = np.sort(rng.choice(users, cfg.validation_users, replace=False))
        self.validation_ = self._choose_weight(scout, inner, users)
        self.weight_ = float(self.validation_["weight"])
        self.llm_model_id_ = self.language_model().model_id
        self.retriever_ = self._retriever(cfg.seed).fit(dataset)

    def _choose_weight(self, scout: Recommender, inner: Any, users: np.ndarray) -> dict[str, Any]:
        """The grid weight with the best validation NDCG@k (the smallest among ties)."""
        from trustrec.evaluation.metrics import ndcg_at_k  # plain metric over arrays

        cfg = self.config
        grid = cfg.grid()
        if not len(users):
            return {"weight": 0.0, "users": 0, "ndcg": {str(w): None for w in grid}}
        recent = recent_items(inner.train, cfg.history_items)
        recs = scout.recommend(users, k=cfg.candidates)
        llm = np.zeros(recs.items.shape)
        for row, u in enumerate(users):
            ok = recs.items[row] != PAD
            hist = recent[u][recent[u] != PAD]
            llm[row, ok] = self._llm_scores(hist, recs.items[row, ok])
        relevant = inner.test.csr[users]
        results = {}
        for w in grid:
            order = np.argsort(-blend(recs.scores, llm, w), axis=1, kind="stable")
            lists = np.take_along_axis(recs.items, order, axis=1)[:, :cfg.k]
            results[str(w)] = float(np.nanmean(ndcg_at_k(lists, relevant, cfg.k)))
        best = max(grid, key=lambda w: (round(results[str(w)], 12), -w))
        return {"weight": best, "users": len(users), "ndcg": results}

    # ------------------------------------------------------------------ scoring
    def _rescore(self, base: np.ndarray, seen: np.ndarray, history: np.ndarray) -> np.ndarray:
        """Final scores (n_items,) from the retriever's ``base`` scores for one user."""
        cfg = self.config
        scores = base.astype(np.float64)
        if not len(history):
            return scores
        open_ = np.ones(len(scores), dtype=bool)
        open_[seen] = False
        pool = np.flatnonzero(open_ & np.isfinite(scores))
        if len(pool) < 2:
            return scores
        top = pool[np.argsort(-scores[pool], kind="stable")[:cfg.candidates]]
        llm = self._llm_scores(history, top) if self.weight_ > 0 else np.zeros(len(top))
        final = blend(scores[top][None, :], llm[None, :], self.weight_)[0]
        rest = np.ones(len(scores), dtype=bool)
        rest[top] = False
        out = scores.copy()
        if rest.any():
            finite = rest & np.isfinite(scores)
            if finite.any():
                out[finite] = scores[finite] - scores[finite].max() + final.min() - 1.0
        out[top] = final
        return out

    def _score(self, users: np.ndarray) -> np.ndarray:
        base = self.retriever_.score(users)
        out = np.empty(base.shape, dtype=np.float32)
        for row, u in enumerate(users):
            hist = self.recent_[u][self.recent_[u] != PAD]
            out[row] = self._rescore(base[row], self.seen_[u].indices, hist)
        return out

    def _score_history(self, items: np.ndarray, values: np.ndarray) -> np.ndarray:
        base = self.retriever_.score_history(items, values)
        return self._rescore(base, items, items[-self.config.history_items:])

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, np.ndarray]:
        inner = {f"retriever.{k}": v for k, v in self.retriever_._state().items()}
        return {**inner, "titles": self.item_titles_, "lines": self.item_lines_,
                "recent": self.recent_}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        n = self.n_items_
        for key in ("titles", "lines"):
            if arrays[key].shape != (n,) or arrays[key].dtype.kind != "U":
                raise ValueError(f"{key} must be ({n},) text, got {arrays[key].shape} "
                                 f"{arrays[key].dtype}")
        recent = arrays["recent"]
        if recent.ndim != 2 or recent.shape[0] != self.n_users_ or recent.dtype != np.int32 \
                or (recent.size and (recent.max() >= n or recent.min() < PAD)):
            raise ValueError(f"recent must be ({self.n_users_}, h) int32 item indices")
        self.item_titles_, self.item_lines_, self.recent_ = (arrays["titles"], arrays["lines"],
                                                            recent)
        self._retriever_arrays = {k.removeprefix("retriever."): v for k, v in arrays.items()
                                  if k.startswith("retriever.")}

    def _manifest_extra(self) -> dict[str, Any]:
        r = self.retriever_
        return {"retriever": {"model": r.name, "config": r.config.to_dict(),
                              "extra": r._manifest_extra()},
                "weight": self.weight_, "llm_model_id": self.llm_model_id_,
                "validation": json.loads(json.dumps(self.validation_))}

    def _load_manifest_extra(self, extra: dict[str, Any]) -> None:
        try:
            spec = extra["retriever"]
            cls = get_model_class(str(spec["model"]))
            retriever = cls(cls.config_class.from_params(spec["config"], model=cls.name))
            for attr in _SHARED:
                setattr(retriever, attr, getattr(self, attr))
            retriever._load_state(self._retriever_arrays)
            retriever._load_manifest_extra(dict(spec.get("extra") or {}))
            retriever.fitted_ = True
            self.weight_ = float(extra["weight"])
            self.llm_model_id_ = str(extra["llm_model_id"])
            self.validation_ = dict(extra.get("validation") or {})
        except (KeyError, TypeError) as exc:
            raise ArtifactError(f"llm_rerank artifact: retriever or language-model facts "
                                f"missing from the manifest ({exc})") from None
        if not 0.0 <= self.weight_ <= 1.0:
            raise ArtifactError(f"llm_rerank artifact: weight {self.weight_} is not in [0, 1]")
        self.retriever_ = retriever
        del self._retriever_arrays
