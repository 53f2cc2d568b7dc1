"""Classic profile-injection (shilling) attacks: random, average, bandwagon, segment and
reverse-bandwagon, to push or nuke target items.

Every fake profile rates all targets (highest rating to push, lowest to nuke), a few
*selected* items chosen by the attack family, and ``filler`` · n_items filler items drawn
at random from the items with interactions:

========================  =========================  =================================
kind                      selected items (rating)    filler ratings
========================  =========================  =================================
``random``                none                       N(global mean, global std)
``average``               none                       N(item mean, item std)
``bandwagon``             most popular (highest)     N(global mean, global std)
``segment``               the targets' segment       lowest
                          (shared genres, else most
                          co-rated; highest)
``reverse_bandwagon``     least popular (lowest)     N(global mean, global std)
========================  =========================  =================================

On implicit data every value is 1 (and nuking is refused). Profile generation is
vectorised: one random matrix of fake users × items, no loop over users.
"""

from __future__ import annotations

import numpy as np

from trustrec.data.dataset import Dataset
from trustrec.errors import ConfigError
from trustrec.robustness.inject import Attack, inject
from trustrec.robustness.profile import (
    Stats,
    check_share,
    check_targets,
    fake_timestamps,
    n_fake_users,
    sample_rows,
)

CLASSIC_KINDS = ("random", "average", "bandwagon", "segment", "reverse_bandwagon")
INTENTS = ("push", "nuke")


def segment_items(dataset: Dataset, targets: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` most popular items of the targets' segment, targets excluded: items sharing
    a genre with a target when the item table has ``genres``, else the most co-rated."""
    counts = dataset.item_counts().astype(np.float64)
    genres = None if dataset.items is None or "genres" not in dataset.items.columns \
        else dataset.items["genres"].fillna("").astype(str)
    if genres is not None and genres.iloc[targets].str.len().gt(0).any():
        dummies = genres.str.get_dummies(sep="|").to_numpy(dtype=bool)
        in_segment = dummies[:, dummies[targets].any(axis=0)].any(axis=1)
        score = np.where(in_segment, counts + 1.0, 0.0)
    else:
        x = dataset.csr.copy()
        x.data[:] = 1.0
        score = np.asarray((x.T @ x[:, targets]).sum(axis=1)).ravel()
    score[targets] = 0.0
    ranked = np.lexsort((np.arange(len(score)), -score))
    return ranked[:n][score[ranked[:n]] > 0].astype(np.int32)


def _selected(kind: str, dataset: Dataset, stats: Stats, targets: np.ndarray,
              n: int) -> np.ndarray:
    if kind in ("random", "average") or n == 0:
        return np.zeros(0, dtype=np.int32)
    counts = np.where(np.isin(np.arange(dataset.n_items), targets), 0, stats.counts)
    if kind == "bandwagon":
        return np.lexsort((np.arange(len(counts)), -counts))[:n].astype(np.int32)
    if kind == "reverse_bandwagon":
        rated = np.flatnonzero(counts > 0)
        return rated[np.lexsort((rated, counts[rated]))][:n].astype(np.int32)
    return segment_items(dataset, targets, n)


def profile_attack(
    dataset: Dataset,
    targets: np.ndarray,
    kind: str = "average",
    size: float = 0.03,
    filler: float = 0.05,
    intent: str = "push",
    seed: int = 0,
    *,
    n_selected: int | None = None,
    target_rating: float | None = None,
    time_pattern: str = "spread",
) -> Attack:
    """Inject ``size`` · n_users fake profiles of a classic attack family (module doc).

    ``filler``: share of the items each profile fills in; ``n_selected``: selected items
    per profile (default 10% of the filler count, at least 1); ``target_rating``: overrides
    the rating given to the targets; ``time_pattern``: ``spread`` over the data's time range
    or ``burst`` within its last day. Deterministic for a ``seed``; genuine data untouched.
    """
    if kind not in CLASSIC_KINDS:
        raise ConfigError(f"attack kind must be one of {', '.join(CLASSIC_KINDS)}; got {kind!r}")
    if intent not in INTENTS:
        raise ConfigError(f"intent must be 'push' or 'nuke'; got {intent!r}")
    check_share("filler", filler)
    targets = check_targets(dataset, targets)
    rng = np.random.default_rng(seed)
    stats = Stats(dataset)
    n_fake = n_fake_users(dataset, size)
    n_filler = max(1, round(filler * dataset.n_items))
    n_sel = max(1, round(0.1 * n_filler)) if n_selected is None else int(n_selected)
    selected = _selected(kind, dataset, stats, targets, n_sel)

    pool = (stats.counts > 0).astype(np.float64)
    pool[np.concatenate([targets, selected])] = 0.0
    if not pool.any():
        raise ConfigError("profile_attack: no filler items left besides targets and selected")
    n_filler = min(n_filler, int(pool.sum()))
    fill = sample_rows(np.broadcast_to(pool, (n_fake, dataset.n_items)), n_filler, rng)

    lo, hi = stats.scale if dataset.explicit else (1.0, 1.0)
    mean, std = float(dataset.value.mean()), float(dataset.value.std())
    if kind == "average":
        fill_values = stats.ratings(stats.item_mean[fill], stats.item_std[fill], rng, fill.shape)
    elif kind == "segment":
        fill_values = np.full(fill.shape, lo, dtype=np.float32)
    else:
        fill_values = stats.ratings(mean, std, rng, fill.shape)
    target_value = stats.extreme(intent) if target_rating is None else float(target_rating)
    sel_value = lo if kind == "reverse_bandwagon" else hi

    items = np.hstack([np.broadcast_to(targets, (n_fake, len(targets))),
                       np.broadcast_to(selected, (n_fake, len(selected))), fill])
    values = np.hstack([np.full((n_fake, len(targets)), target_value, np.float32),
                        np.full((n_fake, len(selected)), sel_value, np.float32), fill_values])
    order = np.argsort(rng.random(items.shape), axis=1)  # targets at random positions in time
    items, values = np.take_along_axis(items, order, 1), np.take_along_axis(values, order, 1)
    lengths = np.full(n_fake, items.shape[1])
    stamps = fake_timestamps(dataset, lengths, time_pattern, rng)
    attacked = inject(dataset, np.repeat(np.arange(n_fake), items.shape[1]), items.ravel(),
                      values.ravel(), stamps, n_fake)
    return Attack(attacked, dataset.n_users, targets, kind, intent, seed,
                  {"size": size, "filler": filler, "n_selected": len(selected),
                   "profile_length": int(items.shape[1]), "time_pattern": time_pattern})
