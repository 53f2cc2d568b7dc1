"""Splitting a ``Dataset`` into train / (validation) / test, honestly and reproducibly.

Every splitter is vectorised (sorting and per-user ranks, no loop over users), takes a
``seed`` where it draws anything, and returns :class:`Split` objects whose parts are
``Dataset.filter`` views of the parent: they share its ID indices and side tables, so an
index means the same user or item in train, validation and test.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from trustrec.data.dataset import Dataset
from trustrec.errors import ConfigError, DataError


@dataclass(frozen=True)
class Split:
    """A train/test (and optional validation) partition of one dataset's interactions.

    All parts share the parent's ``IdIndex``es, so indices mean the same in each.
    """

    train: Dataset
    test: Dataset
    validation: Dataset | None = None
    name: str = "split"


# ---------------------------------------------------------------------- helpers
def _check_fraction(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ConfigError(f"{name} must be strictly between 0 and 1, got {value!r}")


def _check_int(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _round_half_up(x: np.ndarray) -> np.ndarray:
    """Deterministic rounding (0.5 → 1, 2.5 → 3), unlike numpy's round-half-to-even."""
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5).astype(np.int64)


def _user_ranks(user: np.ndarray, key: np.ndarray, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """Each interaction's rank within its user by ascending ``key`` (ties: file order),
    and the interaction count of its user."""
    order = np.lexsort((key, user))  # lexsort is stable: equal keys keep file order
    counts = np.bincount(user, minlength=n_users)
    starts = np.cumsum(counts) - counts
    ranks = np.empty(len(user), dtype=np.int64)
    ranks[order] = np.arange(len(user)) - starts[user[order]]
    return ranks, counts[user]


def _random_ranks(ds: Dataset, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A uniformly random order of each user's interactions (ranks, user counts)."""
    return _user_ranks(ds.user, rng.random(len(ds)), ds.n_users)


def _require_timestamps(ds: Dataset, what: str) -> np.ndarray:
    if ds.timestamp is None:
        raise DataError(f"{what}: dataset {ds.name!r} has no timestamp column; "
                        "use a random split (e.g. method 'random') instead")
    return ds.timestamp


def _parts(ds: Dataset, test: np.ndarray, name: str,
           validation: np.ndarray | None = None) -> Split:
    train = ~test if validation is None else ~(test | validation)
    return Split(
        train=ds.filter(train, name=f"{ds.name}/train"),
        test=ds.filter(test, name=f"{ds.name}/test"),
        validation=None if validation is None else ds.filter(validation,
                                                             name=f"{ds.name}/validation"),
        name=name,
    )


def _random_subset(active: np.ndarray, fraction: float, rng: np.random.Generator,
                   what: str) -> np.ndarray:
    """A random ``fraction`` of ``active`` indices (at least one, never all)."""
    if len(active) < 2:
        raise DataError(f"cold {what} holdout needs at least 2 {what}s with interactions, "
                        f"got {len(active)}")
    n = int(np.clip(_round_half_up(fraction * len(active)), 1, len(active) - 1))
    return rng.choice(active, size=n, replace=False)


# ---------------------------------------------------------------------- splitters
def _holdout_mask(ds: Dataset, fraction: float, seed: int, min_train: int) -> np.ndarray:
    """Mark ``round(fraction · n_u)`` random interactions per user, leaving ``min_train``."""
    _check_int("min_train", min_train, 1)
    ranks, counts = _random_ranks(ds, np.random.default_rng(seed))
    n_out = np.minimum(_round_half_up(fraction * counts), counts - min_train)
    return ranks < np.clip(n_out, 0, None)


def random_holdout(ds: Dataset, test_fraction: float = 0.2, seed: int = 0,
                   min_train: int = 1) -> Split:
    """Per-user random holdout: each user sends ``round(test_fraction · n_u)`` interactions
    to test (half rounds up), but keeps at least ``min_train`` in train.

    Users with a single interaction stay in train.
    """
    _check_fraction("test_fraction", test_fraction)
    return _parts(ds, _holdout_mask(ds, test_fraction, seed, min_train),
                  f"random(test_fraction={test_fraction}, seed={seed})")


def validation_split(train: Dataset, fraction: float = 0.1, seed: int = 0) -> Split:
    """Carve a per-user random validation set out of a *training* set (for tuning).

    Returns ``Split(train=inner_train, test=validation)``, split like
    :func:`random_holdout`; the real test set is never touched.
    """
    _check_fraction("fraction", fraction)
    held = _holdout_mask(train, fraction, seed, 1)
    return Split(train=train.filter(~held, name=f"{train.name}/inner-train"),
                 test=train.filter(held, name=f"{train.name}/validation"),
                 name=f"validation(fraction={fraction}, seed={seed})")


def temporal_split(ds: Dataset, test_fraction: float = 0.2, cutoff: int | None = None) -> Split:
    """Global temporal split: interactions at or after ``cutoff`` go to test.

    Without ``cutoff`` it is the timestamp of the ``round(test_fraction · n)``-th latest
    interaction, so about ``test_fraction`` of the data is in test (ties at the cutoff all go
    to test). Every training interaction is strictly older than every test one. Requires
    timestamps, and a cutoff that leaves both sides non-empty (:class:`DataError` otherwise).
    """
    ts = _require_timestamps(ds, "temporal split")
    if cutoff is None:
        _check_fraction("test_fraction", test_fraction)
        n_test = min(int(_round_half_up(test_fraction * len(ds))), len(ds) - 1)
        if n_test <= 0:
            raise DataError(f"temporal split: {len(ds)} interaction(s) are too few for "
                            f"test_fraction={test_fraction}")
        cutoff = int(np.partition(ts, len(ds) - n_test)[len(ds) - n_test])
    test = ts >= cutoff
    if test.all() or not test.any():
        side = "test" if test.all() else "train"
        raise DataError(f"temporal split of {ds.name!r}: cutoff {cutoff} puts all {len(ds)} "
                        f"interactions in {side} (timestamps {ts.min()}–{ts.max()})")
    return _parts(ds, test, f"temporal(cutoff={cutoff})")


def leave_last_n(ds: Dataset, n: int = 1, validation_n: int = 0) -> Split:
    """Per-user leave-last-``n``: each user's ``n`` latest interactions go to test.

    Order is by timestamp, ties broken by file order (stable). Users with at most ``n``
    interactions stay entirely in train. With ``validation_n`` > 0 the (up to)
    ``validation_n`` interactions just before the test ones form the validation set, always
    leaving at least one in train. Requires timestamps (:class:`DataError` otherwise).
    """
    ts = _require_timestamps(ds, "leave-last split")
    _check_int("n", n, 1)
    _check_int("validation_n", validation_n, 0)
    ranks, counts = _user_ranks(ds.user, ts, ds.n_users)
    from_end = counts - 1 - ranks
    eligible = counts > n
    test = eligible & (from_end < n)
    name = f"leave-last(n={n}"
    if validation_n == 0:
        return _parts(ds, test, name + ")")
    n_val = np.clip(np.minimum(validation_n, counts - n - 1), 0, None)
    validation = eligible & (from_end >= n) & (from_end < n + n_val)
    return _parts(ds, test, f"{name}, validation_n={validation_n})", validation)


def next_item_split(dataset: Dataset, min_user: int = 3) -> Split:
    """Leave-last-one-out by timestamp, over users with at least ``min_user`` interactions."""
    return leave_last_n(keep_min_interactions(dataset, min_user=min_user), n=1)


def kfold(ds: Dataset, k: int = 5, seed: int = 0) -> list[Split]:
    """User-stratified k-fold cross-validation: ``k`` splits whose test sets are disjoint.

    Each user's interactions are shuffled and dealt round-robin into the folds, starting
    at a random fold per user, so every fold holds about ``1/k`` of every user and a user
    with ``n_u ≥ 2`` interactions always keeps some in train. Users with a single
    interaction are never in test (they would be cold users), so the test sets partition
    the interactions of all other users.
    """
    _check_int("k", k, 2)
    rng = np.random.default_rng(seed)
    ranks, counts = _random_ranks(ds, rng)
    offset = rng.integers(0, k, size=ds.n_users)
    fold = np.where(counts > 1, (ranks + offset[ds.user]) % k, -1)
    return [_parts(ds, fold == f, f"kfold(k={k}, seed={seed}) fold {f + 1}/{k}")
            for f in range(k)]


def cold_item_holdout(ds: Dataset, item_fraction: float = 0.2, seed: int = 0) -> Split:
    """Cold-start items: all interactions of a random ``item_fraction`` of the items (with
    interactions) go to test, so no test item occurs in train."""
    _check_fraction("item_fraction", item_fraction)
    active = np.flatnonzero(ds.item_counts())
    cold = np.zeros(ds.n_items, dtype=bool)
    cold[_random_subset(active, item_fraction, np.random.default_rng(seed), "item")] = True
    return _parts(ds, cold[ds.item], f"cold-item(item_fraction={item_fraction}, seed={seed})")


def cold_user_holdout(ds: Dataset, user_fraction: float = 0.2, seed: int = 0) -> Split:
    """Cold-start users: all interactions of a random ``user_fraction`` of the users (with
    interactions) go to test, so no test user occurs in train."""
    _check_fraction("user_fraction", user_fraction)
    active = np.flatnonzero(ds.user_counts())
    cold = np.zeros(ds.n_users, dtype=bool)
    cold[_random_subset(active, user_fraction, np.random.default_rng(seed), "user")] = True
    return _parts(ds, cold[ds.user], f"cold-user(user_fraction={user_fraction}, seed={seed})")


def keep_min_interactions(ds: Dataset, min_user: int = 1, min_item: int = 1,
                          iterative: bool = False) -> Dataset:
    """Drop interactions of users with fewer than ``min_user`` and items with fewer than
    ``min_item`` interactions (counts taken on ``ds``).

    With ``iterative=True`` this repeats until stable (the k-core: every remaining user and
    item meets its minimum). Indices are unchanged; dropped users/items just have no
    interactions.
    """
    _check_int("min_user", min_user, 1)
    _check_int("min_item", min_item, 1)
    keep = np.ones(len(ds), dtype=bool)
    while True:
        user_ok = np.bincount(ds.user[keep], minlength=ds.n_users) >= min_user
        item_ok = np.bincount(ds.item[keep], minlength=ds.n_items) >= min_item
        new_keep = keep & user_ok[ds.user] & item_ok[ds.item]
        if not iterative or new_keep.sum() == keep.sum():
            return ds.filter(new_keep)
        keep = new_keep


# ---------------------------------------------------------------------- dispatch by name
#: Splitters by the name the CLI uses (``trustrec data split --method NAME``).
SPLITTERS: dict[str, Callable[..., Split | list[Split]]] = {
    "random": random_holdout,
    "temporal": temporal_split,
    "leave-last": leave_last_n,
    "kfold": kfold,
    "cold-item": cold_item_holdout,
    "cold-user": cold_user_holdout,
}

#: Generic option names that a splitter knows under its own name.
_ALIASES: dict[str, dict[str, str]] = {
    "cold-item": {"test_fraction": "item_fraction"},
    "cold-user": {"test_fraction": "user_fraction"},
}


def split_dataset(ds: Dataset, method: str, **options: Any) -> list[Split]:
    """Split ``ds`` with the splitter named ``method`` (see :data:`SPLITTERS`).

    Always returns a list (one split, or ``k`` for k-fold). ``seed`` is accepted by every
    method so callers can pass it uniformly; deterministic methods ignore it.
    ``test_fraction`` means ``item_fraction``/``user_fraction`` for the cold methods. An
    unknown method or option is a :class:`ConfigError`.
    """
    if method not in SPLITTERS:
        raise ConfigError(f"unknown split method {method!r}; expected one of "
                          f"{', '.join(SPLITTERS)}")
    func = SPLITTERS[method]
    params = list(inspect.signature(func).parameters)[1:]
    aliases = _ALIASES.get(method, {})
    options = {aliases.get(key, key): value for key, value in options.items()}
    if "seed" not in params:
        options.pop("seed", None)
    unknown = sorted(set(options) - set(params))
    if unknown:
        accepted = [*params, *aliases] + ([] if "seed" in params else ["seed"])
        raise ConfigError(f"split method {method!r}: unknown option(s) {', '.join(unknown)}; "
                          f"it takes {', '.join(accepted)}")
    result = func(ds, **options)
    return result if isinstance(result, list) else [result]
