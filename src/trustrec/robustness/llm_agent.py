"""LLM-agent fake profiles: a language model plays a persona and chooses, item by item,
what such a person would watch next — by constrained choice over catalogue titles.

The bundled 135M model cannot write such lists as free text (it copies its input and
loops), so at every step it scores a shortlist of catalogue titles by log-probability
after the prompt ``A <noun> fan who likes <persona genres> watched: <titles so far>. Next
they watched:``; the persona is the genres of the profile's first item (drawn by
popularity). The shortlist is ``shortlist`` items drawn by popularity among the items not
yet chosen, seeded by the history, so a profile is deterministic. :class:`LLMChooser` has
the ``score_history`` of a next-item model, so :func:`~trustrec.robustness.generative.
generative_attack` samples the profiles with it and adds what it adds to every
model-generated profile: real lengths, the targets woven in at random positions, ratings
and timestamps that follow real users.
"""

from __future__ import annotations

import zlib

import numpy as np

from trustrec.data.dataset import Dataset
from trustrec.errors import ConfigError
from trustrec.llm.base import LanguageModel


class LLMChooser:
    """Next-item scores from a language model's log-probabilities over a shortlist of
    catalogue titles (module docstring); items off the shortlist score −inf."""

    name = "llm_agent"

    def __init__(self, lm: LanguageModel, dataset: Dataset, shortlist: int = 12,
                 history_items: int = 8, noun: str = "movie", seed: int = 0) -> None:
        from trustrec.models.llm_rerank import item_labels

        if shortlist < 2 or history_items < 1:
            raise ConfigError(f"llm agent: shortlist must be ≥ 2 and history_items ≥ 1, got "
                              f"{shortlist}, {history_items}")
        self.lm, self.shortlist, self.history_items = lm, shortlist, history_items
        self.noun, self.seed = noun, seed
        self.titles, _ = item_labels(dataset)
        genres = dataset.items["genres"].fillna("").astype(str) \
            if dataset.items is not None and "genres" in dataset.items else None
        self.genres = None if genres is None else \
            genres.str.replace("|", " and ", regex=False).to_numpy(dtype=str)
        counts = dataset.item_counts().astype(np.float64)
        self.item_popularity_ = counts
        self._weights = counts / counts.sum() if counts.sum() else None

    def prompt(self, history: np.ndarray) -> str:
        """The persona prompt for a history (item indices, oldest first)."""
        like = f" who likes {self.genres[history[0]]} films" \
            if self.genres is not None and len(history) and self.genres[history[0]] else ""
        seen = "; ".join(self.titles[history[-self.history_items:]])
        return f"A {self.noun} fan{like} watched: {seen}. Next they watched:"

    def score_history(self, history: np.ndarray) -> np.ndarray:
        """(n_items,) float64: log p(" title" | persona prompt) on the shortlist, −inf
        elsewhere (and on the history's own items)."""
        history = np.asarray(history, dtype=np.int64)
        history = history[history >= 0]
        n = len(self.titles)
        out = np.full(n, -np.inf)
        key = zlib.crc32(history.astype(np.int64).tobytes()) ^ self.seed
        rng = np.random.default_rng(key)
        open_ = np.ones(n, bool)
        open_[history] = False
        if self._weights is None:
            return out
        weights = self._weights * open_
        if weights.sum() <= 0:
            return out
        pool = np.flatnonzero(weights > 0)
        size = min(self.shortlist, len(pool))
        picks = rng.choice(pool, size, replace=False, p=weights[pool] / weights[pool].sum())
        out[picks] = self.lm.logprob(self.prompt(history), [" " + t for t in self.titles[picks]])
        return out
