"""Model-generated fake profiles: histories sampled from a generative model of real
behaviour, with the targets inserted at natural positions and realistic timestamps.

Two samplers:

* :class:`BehaviourModel` (always available): users are clustered into segments (k-means on
  a truncated SVD of the interaction matrix); within a segment the next item follows a
  first-order Markov chain fitted on consecutive real interactions, smoothed with the
  segment's popularity. Profile lengths, rating offsets, start times and gaps between
  events are drawn from the real users of the segment.
* any fitted recommender with ``score_history`` that predicts the next item (``sasrec``
  when registered): the next item is drawn from the softmax of its scores over the items
  not yet in the history.
* ``sampler="llm"``: a language model playing a persona chooses among catalogue titles by
  log-probability (:class:`~trustrec.robustness.llm_agent.LLMChooser`; the model named by
  ``TRUSTREC_LLM_*``, the bundled one by default).

:func:`generative_attack` uses ``sasrec`` when the registry has it (``sampler="auto"``)
and the Markov model otherwise; ``Attack.info["generator"]`` says which was used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from trustrec.data.dataset import Dataset
from trustrec.errors import ConfigError
from trustrec.robustness.inject import Attack, inject
from trustrec.robustness.profile import Stats, check_targets, n_fake_users

log = logging.getLogger(__name__)

SAMPLERS = ("auto", "markov", "sasrec", "llm")


def projection(dataset: Dataset, dim: int = 16, seed: int = 0) -> np.ndarray:
    """Each user's row of the row-normalised binary matrix projected on its top ``dim``
    singular directions (coordinates ``U·S`` of a truncated SVD)."""
    x = dataset.csr.copy()
    x.data[:] = 1.0
    norms = np.sqrt(np.asarray(x.sum(axis=1)).ravel())
    x = sp.diags(1.0 / np.maximum(norms, 1.0)) @ x
    k = max(1, min(dim, min(x.shape) - 1))
    u, s, _ = svds(x.astype(np.float64), k=k, random_state=seed)
    return u * s


def user_embedding(dataset: Dataset, dim: int = 16, seed: int = 0) -> np.ndarray:
    """Unit-row user vectors: :func:`projection` scaled to length 1 (zero rows stay zero)."""
    emb = projection(dataset, dim, seed)
    norm = np.linalg.norm(emb, axis=1, keepdims=True)
    return np.divide(emb, norm, out=np.zeros_like(emb), where=norm > 0)


def kmeans(points: np.ndarray, k: int, seed: int = 0, iterations: int = 25) -> np.ndarray:
    """Cluster label per row (k-means++ start, Lloyd iterations; vectorised)."""
    rng = np.random.default_rng(seed)
    k = max(1, min(k, len(points)))
    centres = [points[rng.integers(len(points))]]
    for _ in range(k - 1):
        dist = np.min(((points[:, None, :] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
        total = dist.sum()
        pick = rng.choice(len(points), p=dist / total) if total > 0 \
            else rng.integers(len(points))
        centres.append(points[pick])
    c = np.array(centres)
    for _ in range(iterations):
        labels = ((points[:, None, :] - c[None]) ** 2).sum(-1).argmin(axis=1)
        sums = np.zeros_like(c)
        np.add.at(sums, labels, points)
        sizes = np.bincount(labels, minlength=k)[:, None]
        c = np.where(sizes > 0, sums / np.maximum(sizes, 1), c)
    return labels.astype(np.int32)


def _time_order(dataset: Dataset) -> np.ndarray:
    key = dataset.timestamp if dataset.timestamp is not None else np.arange(len(dataset))
    return np.lexsort((np.arange(len(dataset)), key, dataset.user))


@dataclass(frozen=True)
class Profiles:
    """Sampled histories: ``items`` (n, L) item indices in time order, -1 past each
    ``lengths[i]``, and each profile's ``segment``."""

    items: np.ndarray
    lengths: np.ndarray
    segment: np.ndarray


class BehaviourModel:
    """Per-segment first-order Markov chain over items with popularity smoothing, plus the
    real distributions of profile lengths, rating offsets, start times and gaps."""

    def __init__(self, n_segments: int = 8, smoothing: float = 0.1, seed: int = 0) -> None:
        if not 0.0 <= smoothing <= 1.0:
            raise ConfigError(f"smoothing must be in [0, 1], got {smoothing!r}")
        self.n_segments = n_segments
        self.smoothing = smoothing
        self.seed = seed

    def fit(self, dataset: Dataset) -> BehaviourModel:
        """Learn segments, transitions and the real distributions from ``dataset``."""
        self.dataset_ = dataset
        active = dataset.user_counts() > 0
        seg = np.full(dataset.n_users, -1, dtype=np.int32)
        seg[active] = kmeans(user_embedding(dataset, seed=self.seed)[active],
                             self.n_segments, self.seed)
        self.segment_ = seg
        self.k_ = int(seg.max()) + 1
        order = _time_order(dataset)
        user, item = dataset.user[order], dataset.item[order]
        same = user[1:] == user[:-1]
        keys = seg[user[:-1][same]].astype(np.int64) * dataset.n_items + item[:-1][same]
        by_key = np.argsort(keys, kind="stable")
        self.keys_, self.successors_ = keys[by_key], item[1:][same][by_key]
        pop = np.zeros((self.k_, dataset.n_items))
        np.add.at(pop, (seg[dataset.user], dataset.item), 1.0)
        self.log_pop_ = np.log(pop + 1e-3)
        self.lengths_ = dataset.user_counts()
        stats = Stats(dataset)
        resid = dataset.value - stats.item_mean[dataset.item]
        counts = np.maximum(self.lengths_, 1)
        self.offset_ = np.bincount(dataset.user, weights=resid, minlength=dataset.n_users) / counts
        self.noise_ = float(np.std(resid - self.offset_[dataset.user]))
        if dataset.timestamp is not None:
            ts = dataset.timestamp[order]
            self.first_ = np.full(dataset.n_users, np.iinfo(np.int64).max)
            np.minimum.at(self.first_, dataset.user, dataset.timestamp)
            self.gaps_ = np.diff(ts)[same]
        return self

    def _popular(self, segment: np.ndarray, used: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
        keys = self.log_pop_[segment] - np.log(-np.log(rng.random(used.shape)))
        keys[used] = -np.inf
        return keys.argmax(axis=1)

    def sample(self, n: int, rng: np.random.Generator, exclude: np.ndarray,
               max_length: int = 300, min_length: int = 1) -> Profiles:
        """``n`` histories of real lengths clipped to [``min_length``, ``max_length``]; items
        in ``exclude`` are never sampled. Loops over time steps, vectorised over profiles."""
        real = np.flatnonzero(self.segment_ >= 0)
        donors = real[rng.integers(0, len(real), n)]
        segment = self.segment_[donors]
        lengths = np.clip(self.lengths_[donors], min_length, max_length)
        n_items = self.dataset_.n_items
        used = np.zeros((n, n_items), dtype=bool)
        used[:, exclude] = True
        seq = np.full((n, int(lengths.max())), -1, dtype=np.int32)
        rows = np.arange(n)
        for t in range(seq.shape[1]):
            live = rows[lengths > t]
            nxt = self._popular(segment[live], used[live], rng)
            if t:
                key = segment[live].astype(np.int64) * n_items + seq[live, t - 1]
                lo = np.searchsorted(self.keys_, key, "left")
                hi = np.searchsorted(self.keys_, key, "right")
                pick = lo + (rng.random(len(live)) * (hi - lo)).astype(np.int64)
                succ = self.successors_[np.minimum(pick, len(self.successors_) - 1)]
                ok = (hi > lo) & (rng.random(len(live)) >= self.smoothing) & \
                    ~used[live, succ]
                nxt = np.where(ok, succ, nxt)
            seq[live, t] = nxt
            used[live, nxt] = True
        return Profiles(seq, lengths, segment)

    def values(self, profiles: Profiles, rng: np.random.Generator) -> np.ndarray:
        """Ratings per sampled item (n, L): item mean + a real user's offset + noise."""
        stats = Stats(self.dataset_)
        real = np.flatnonzero(self.segment_ >= 0)
        offset = self.offset_[real[rng.integers(0, len(real), len(profiles.lengths))]]
        mean = stats.item_mean[np.maximum(profiles.items, 0)] + offset[:, None]
        return stats.ratings(mean, self.noise_, rng, profiles.items.shape)

    def timestamps(self, lengths: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
        """Sorted timestamps per profile (concatenated): a real start time and real gaps."""
        if self.dataset_.timestamp is None:
            return None
        real = np.flatnonzero(self.segment_ >= 0)
        start = self.first_[real[rng.integers(0, len(real), len(lengths))]]
        gaps = self.gaps_[rng.integers(0, len(self.gaps_), int(lengths.sum()))] \
            if len(self.gaps_) else np.zeros(int(lengths.sum()), dtype=np.int64)
        owner = np.repeat(np.arange(len(lengths)), lengths)
        first = np.cumsum(lengths) - lengths
        gaps[first] = 0
        stamps = start[owner] + np.cumsum(gaps) - np.cumsum(gaps)[first][owner]
        return np.minimum(stamps, int(self.dataset_.timestamp.max()))


def model_profiles(model: object, n: int, lengths: np.ndarray, exclude: np.ndarray,
                   n_items: int, rng: np.random.Generator, temperature: float = 1.0,
                   start: np.ndarray | None = None) -> Profiles:
    """Histories sampled item by item from a fitted next-item model's ``score_history``
    (softmax at ``temperature`` over items not yet used); the first item is drawn from
    ``start`` (item weights) or the model's popularity."""
    seq = np.full((n, int(lengths.max())), -1, dtype=np.int32)
    pop = np.asarray(getattr(model, "item_popularity_", np.ones(n_items)), dtype=np.float64) \
        if start is None else start
    for u in range(n):  # one history at a time: the model scores one history per call
        used = np.zeros(n_items, dtype=bool)
        used[exclude] = True
        for t in range(int(lengths[u])):
            logits = np.log(pop + 1e-9) if t == 0 else \
                np.asarray(model.score_history(seq[u, max(0, t - 50):t]), np.float64) \
                / temperature
            logits = np.where(used, -np.inf, np.nan_to_num(logits, nan=-np.inf))
            item = int(np.argmax(logits - np.log(-np.log(rng.random(n_items)))))
            seq[u, t] = item
            used[item] = True
    return Profiles(seq, lengths, np.zeros(n, dtype=np.int32))


def _resolve(sampler: str, model: object | None, dataset: Dataset, seed: int) -> tuple[
        object | None, str]:
    if model is not None:
        return model, str(getattr(model, "name", type(model).__name__))
    if sampler not in SAMPLERS:
        raise ConfigError(f"sampler must be one of {', '.join(SAMPLERS)}; got {sampler!r}")
    if sampler == "llm":  # a persona-playing language model (llm_agent.py)
        from trustrec.llm.settings import open_model
        from trustrec.robustness.llm_agent import LLMChooser

        return LLMChooser(open_model(), dataset, seed=seed), "llm_agent"
    from trustrec.models.registry import available_models, create_model

    has_sasrec = "sasrec" in available_models()
    if sampler == "sasrec" and not has_sasrec:
        raise ConfigError("sampler 'sasrec': the sasrec model is not available in this build")
    if sampler == "markov" or not has_sasrec:
        return None, "markov"
    return create_model("sasrec", seed=seed).fit(dataset), "sasrec"


def generative_attack(
    dataset: Dataset,
    targets: np.ndarray,
    size: float = 0.03,
    intent: str = "push",
    seed: int = 0,
    *,
    sampler: str = "auto",
    model: object | None = None,
    n_segments: int = 8,
    smoothing: float = 0.1,
    max_length: int = 300,
    temperature: float = 1.0,
) -> Attack:
    """Inject ``size`` · n_users profiles sampled from a generative model of real behaviour.

    ``sampler``: ``auto`` (``sasrec`` when registered, else ``markov``), ``markov``,
    ``sasrec`` or ``llm`` (an LLM agent, see :mod:`trustrec.robustness.llm_agent`); or
    hand over a fitted next-item ``model`` (anything with ``score_history``).
    Each profile keeps a real profile length (at most ``max_length``), real-looking ratings
    and timestamps; every target replaces the item at a random position and gets the
    highest (push) or lowest (nuke) rating. Deterministic for a ``seed``.
    """
    if intent not in ("push", "nuke"):
        raise ConfigError(f"intent must be 'push' or 'nuke'; got {intent!r}")
    targets = check_targets(dataset, targets)
    rng = np.random.default_rng(seed)
    n_fake = n_fake_users(dataset, size)
    behaviour = BehaviourModel(n_segments, smoothing, seed).fit(dataset)
    next_model, generator = _resolve(sampler, model, dataset, seed)
    if next_model is None:
        profiles = behaviour.sample(n_fake, rng, targets, max_length, len(targets) + 1)
    else:
        lengths = np.clip(behaviour.lengths_[rng.choice(
            np.flatnonzero(behaviour.lengths_ > 0), n_fake)], len(targets) + 1, max_length)
        profiles = model_profiles(next_model, n_fake, lengths, targets, dataset.n_items, rng,
                                  temperature)
    items, lengths = profiles.items.copy(), profiles.lengths
    # each target overwrites a distinct random position inside the profile
    slots = np.argsort(rng.random(items.shape) + (np.arange(items.shape[1]) >= lengths[:, None]),
                       axis=1)[:, :len(targets)]
    np.put_along_axis(items, slots, np.broadcast_to(targets, slots.shape), axis=1)
    values = behaviour.values(Profiles(items, lengths, profiles.segment), rng)
    np.put_along_axis(values, slots, Stats(dataset).extreme(intent), axis=1)
    valid = np.arange(items.shape[1]) < lengths[:, None]
    user = np.repeat(np.arange(n_fake), lengths)
    attacked = inject(dataset, user, items[valid], values[valid],
                      behaviour.timestamps(lengths, rng), n_fake)
    log.info("generative attack: %d profiles sampled by %s", n_fake, generator)
    return Attack(attacked, dataset.n_users, targets, "generative", intent, seed,
                  {"size": size, "generator": generator,
                   "mean_profile_length": float(lengths.mean())})
