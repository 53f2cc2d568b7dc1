"""Text attacks on text-vector recommenders (``content``, ``hybrid``): rewrite a target
item's text within an edit budget so that its vector moves towards what an audience likes.

Greedy term insertion: candidate words come from the texts of the items the audience
interacts with most; at each step every remaining candidate is appended in turn, the
encoder scores the rewrites, and the word that brings the (centred) item vector closest to
the audience's profile is kept, until ``budget`` words are inserted or nothing improves.
The semantic drift of a rewrite is the cosine between the original and rewritten vectors.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trustrec.data.dataset import Dataset
from trustrec.errors import ConfigError
from trustrec.text.item_text import DEFAULT_FIELDS, build_item_texts

_WORD = re.compile(r"[a-z][a-z'-]{3,}")


class MemoEncoder:
    """A ``TextEncoder`` wrapper that remembers every text it encoded (in memory), so that
    refitting text models on rewritten catalogues encodes only the changed texts."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder
        self.model = getattr(encoder, "model", None)
        self._memo: dict[str, np.ndarray] = {}

    @property
    def model_id(self) -> str:
        """The wrapped encoder's model ID."""
        return str(self.encoder.model_id)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Vectors of ``texts``, encoding only texts not seen before."""
        new = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if new:
            self._memo.update(zip(new, self.encoder.encode(new), strict=True))
        return np.vstack([self._memo[t] for t in texts])

    def encode_items(self, dataset: Dataset, fields: list[str] | None = None,
                     template: str | None = None) -> np.ndarray:
        """Item vectors as ``TextEncoder.encode_items`` gives them."""
        return self.encode(build_item_texts(dataset.items, fields=fields, template=template))


@dataclass(frozen=True)
class TextRewrite:
    """One rewritten item: its index, the text before and after, the inserted words, the
    cosine of its centred vector with the audience profile before and after, and the
    semantic drift (cosine between the original and rewritten text vectors)."""

    item: int
    original: str
    rewritten: str
    inserted: list[str]
    similarity_before: float
    similarity_after: float
    drift: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dict(self.__dict__)


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def candidate_words(texts: list[str], liked: np.ndarray, n: int, exclude: str) -> list[str]:
    """The ``n`` most frequent words (≥ 4 letters) in the texts of the ``liked`` items that
    are not already in ``exclude``."""
    counts = Counter(w for i in liked for w in set(_WORD.findall(texts[i].lower())))
    have = set(_WORD.findall(exclude.lower()))
    return [w for w, _ in counts.most_common() if w not in have][:n]


def text_attack(model: Any, dataset: Dataset, targets: np.ndarray, budget: int = 20,
                n_candidates: int = 60, audience_users: np.ndarray | None = None
                ) -> tuple[Dataset, list[TextRewrite]]:
    """Rewrite each target's text (greedy insertion of ≤ ``budget`` words chosen among
    ``n_candidates``) towards the profile of ``audience_users`` (default: every user who
    has not interacted with the target). ``model`` is a fitted ``content`` / ``hybrid``
    model of ``dataset``; returns the dataset with the rewritten item table and the
    rewrites. Deterministic (no sampling)."""
    if budget < 1 or n_candidates < 1:
        raise ConfigError(f"text_attack: budget and n_candidates must be ≥ 1, got {budget}, "
                          f"{n_candidates}")
    if dataset.items is None:
        raise ConfigError(f"text_attack: dataset {dataset.name!r} has no item table")
    encoder = model.text_encoder()
    fields = model.config.fields() or [f for f in DEFAULT_FIELDS if f in dataset.items.columns]
    texts = build_item_texts(dataset.items, fields=fields)
    centre = model.item_centre_.astype(np.float64)
    x = dataset.csr
    column = fields[-1]
    new_cells: dict[int, str] = {}
    rewrites = []
    for target in np.atleast_1d(targets).astype(int):
        users = audience_users if audience_users is not None else \
            np.flatnonzero((x[:, target].toarray().ravel() == 0) & (dataset.user_counts() > 0))
        weights = np.asarray(x[users].sum(axis=0)).ravel()
        profile = _unit(weights @ model.item_vectors_.astype(np.float64))
        liked = np.argsort(-weights, kind="stable")[:50]
        words = candidate_words(texts, liked, n_candidates, texts[target])
        base = encoder.encode([texts[target]])[0].astype(np.float64)
        best_sim = float(_unit(base - centre) @ profile)
        start_sim, current, inserted = best_sim, texts[target], []
        for _ in range(budget):
            if not words:
                break
            trials = [f"{current} {w}" for w in words]
            sims = _unit(encoder.encode(trials).astype(np.float64) - centre) @ profile
            j = int(np.argmax(sims))
            if sims[j] <= best_sim:
                break
            best_sim, current = float(sims[j]), trials[j]
            inserted.append(words.pop(j))
        rewritten = encoder.encode([current])[0].astype(np.float64)
        drift = float(_unit(base) @ _unit(rewritten))
        cell = dataset.items.at[target, column]
        new_cells[int(target)] = " ".join(
            [str(cell) if isinstance(cell, str) else "", *inserted]).strip()
        rewrites.append(TextRewrite(int(target), texts[target], current, inserted, start_sim,
                                    best_sim, drift))
    return replace_texts(dataset, new_cells, column), rewrites


def _with_items(dataset: Dataset, items: pd.DataFrame, suffix: str) -> Dataset:
    return Dataset(user=dataset.user, item=dataset.item, value=dataset.value,
                   timestamp=dataset.timestamp, user_index=dataset.user_index,
                   item_index=dataset.item_index, items=items, users=dataset.users,
                   explicit=dataset.explicit, rating_scale=dataset.rating_scale,
                   name=f"{dataset.name}+{suffix}")


def replace_texts(dataset: Dataset, texts: dict[int, str], column: str) -> Dataset:
    """``dataset`` with the ``column`` cell of each item index in ``texts`` replaced
    (interactions shared, item table copied)."""
    items = dataset.items.copy()
    for item, text in texts.items():
        items.at[item, column] = text
    return _with_items(dataset, items, "text")


def quarantine(attacked: Dataset, original: Dataset, flags: np.ndarray) -> Dataset:
    """``attacked`` with the item texts of flagged items restored from ``original``."""
    items = attacked.items.copy()
    items.loc[flags] = original.items.loc[flags].to_numpy()
    return _with_items(attacked, items, "quarantine")
