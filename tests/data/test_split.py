"""Splitters: partitions, reproducibility, per-user fractions, time order, cold starts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trustrec.data import Dataset, IdIndex
from trustrec.data import split as S
from trustrec.errors import ConfigError, DataError


def make_dataset(n_users: int = 30, n_items: int = 25, n: int = 300, seed: int = 0,
                 ts_range: int = 40, timestamps: bool = True) -> Dataset:
    """Random distinct (user, item) pairs; ``value`` holds each row's position, so a part's
    values say which rows of the parent it kept. Timestamps have many ties."""
    rng = np.random.default_rng(seed)
    pairs = rng.choice(n_users * n_items, size=min(n, n_users * n_items), replace=False)
    user, item = np.divmod(pairs, n_items)
    return Dataset(
        user=user, item=item, value=np.arange(len(pairs)),
        timestamp=rng.integers(0, ts_range, len(pairs)) if timestamps else None,
        user_index=IdIndex([f"u{u}" for u in range(n_users)]),
        item_index=IdIndex([f"i{i}" for i in range(n_items)]),
        explicit=False, name="random",
    )


def rows(part: Dataset | None) -> np.ndarray:
    """The parent positions of a part's rows."""
    return np.zeros(0, dtype=np.int64) if part is None else part.value.astype(np.int64)


def assert_partition(ds: Dataset, split: S.Split) -> None:
    parts = [rows(split.train), rows(split.test), rows(split.validation)]
    joined = np.concatenate(parts)
    assert len(joined) == len(np.unique(joined)), "parts overlap"
    assert np.array_equal(np.sort(joined), np.arange(len(ds))), "parts do not cover the data"
    for part in (split.train, split.test, split.validation):
        if part is not None:
            assert part.user_index is ds.user_index and part.item_index is ds.item_index


ALL_METHODS = {
    "random": lambda ds, seed: S.random_holdout(ds, 0.3, seed=seed),
    "temporal": lambda ds, seed: S.temporal_split(ds, cutoff=int(ds.timestamp.max())),
    "leave-last": lambda ds, seed: S.leave_last_n(ds, n=2, validation_n=1),
    "cold-item": lambda ds, seed: S.cold_item_holdout(ds, 0.3, seed=seed),
    "cold-user": lambda ds, seed: S.cold_user_holdout(ds, 0.3, seed=seed),
    "validation": lambda ds, seed: S.validation_split(ds, 0.3, seed=seed),
}
SEEDED = ["random", "cold-item", "cold-user", "validation"]
datasets = st.builds(make_dataset, n_users=st.integers(2, 25), n_items=st.integers(2, 20),
                     n=st.integers(2, 200), seed=st.integers(0, 10_000),
                     ts_range=st.integers(1, 60))
#: data sets on which every method has something to split (≥ 2 users, items and times)
splittable = datasets.filter(lambda d: min(len(np.unique(d.user)), len(np.unique(d.item)),
                                           len(np.unique(d.timestamp))) >= 2)


@pytest.mark.parametrize("method", list(ALL_METHODS))
@given(ds=splittable, seed=st.integers(0, 1000))
@settings(max_examples=25, deadline=None)
def test_every_split_partitions_the_interactions(method, ds, seed):
    assert_partition(ds, ALL_METHODS[method](ds, seed))


@pytest.mark.parametrize("method", SEEDED)
def test_same_seed_reproduces_and_another_seed_differs(method):
    ds = make_dataset(n=400)
    first, again, other = (ALL_METHODS[method](ds, seed) for seed in (3, 3, 4))
    assert np.array_equal(rows(first.test), rows(again.test))
    assert not np.array_equal(rows(first.test), rows(other.test))


def test_kfold_is_reproducible_and_seed_dependent():
    ds = make_dataset(n=400)
    tests = {seed: [rows(f.test) for f in S.kfold(ds, k=3, seed=seed)] for seed in (1, 2)}
    again = [rows(f.test) for f in S.kfold(ds, k=3, seed=1)]
    assert all(np.array_equal(a, b) for a, b in zip(tests[1], again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(tests[1], tests[2], strict=True))


# ---------------------------------------------------------------------- random holdout
@given(ds=datasets, fraction=st.floats(0.05, 0.95), min_train=st.integers(1, 3),
       seed=st.integers(0, 1000))
@settings(max_examples=40, deadline=None)
def test_random_holdout_takes_the_rounded_share_of_each_user(ds, fraction, min_train, seed):
    split = S.random_holdout(ds, fraction, seed=seed, min_train=min_train)
    n_u = ds.user_counts()
    expected = np.clip(np.minimum(np.floor(fraction * n_u + 0.5), n_u - min_train), 0, None)
    assert np.array_equal(split.test.user_counts(), expected)
    assert not split.test.user_counts()[n_u == 1].any()  # single-interaction users: train


def test_random_holdout_rounds_half_up():
    # 2 users with 5 and 2 interactions; 0.5 · 5 = 2.5 → 3 and 0.25 · 2 = 0.5 → 1
    ds = Dataset(user=[0] * 5 + [1] * 2, item=[0, 1, 2, 3, 4, 0, 1], value=np.arange(7),
                 user_index=IdIndex(["a", "b"]), item_index=IdIndex(list("vwxyz")))
    assert S.random_holdout(ds, 0.5).test.user_counts().tolist() == [3, 1]
    assert S.random_holdout(ds, 0.25).test.user_counts().tolist() == [1, 1]


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5])
def test_fractions_outside_zero_one_are_config_errors(bad):
    ds = make_dataset()
    for call in (lambda: S.random_holdout(ds, bad), lambda: S.temporal_split(ds, bad),
                 lambda: S.cold_item_holdout(ds, bad), lambda: S.validation_split(ds, bad)):
        with pytest.raises(ConfigError, match="between 0 and 1"):
            call()


# ---------------------------------------------------------------------- temporal
@given(ds=datasets, fraction=st.floats(0.05, 0.95))
@settings(max_examples=30, deadline=None)
def test_temporal_split_puts_only_later_interactions_in_test(ds, fraction):
    ts = np.sort(ds.timestamp)
    n_test = int(min(np.floor(fraction * len(ds) + 0.5), len(ds) - 1))
    if n_test == 0 or ts[len(ds) - n_test] == ts[0]:  # too few rows, or ties empty train
        with pytest.raises(DataError, match="temporal split"):
            S.temporal_split(ds, fraction)
        return
    split = S.temporal_split(ds, fraction)
    assert split.train.timestamp.max() < split.test.timestamp.min()
    # the test share is at least the requested one (ties at the cutoff join the test side)
    assert len(split.test) >= n_test


def test_temporal_split_without_ties_hits_the_fraction_and_honours_a_cutoff():
    ds = make_dataset(n=200, ts_range=10**9)
    assert len(S.temporal_split(ds, 0.25).test) == 50
    cutoff = int(np.median(ds.timestamp))
    split = S.temporal_split(ds, cutoff=cutoff)
    assert (split.test.timestamp >= cutoff).all() and (split.train.timestamp < cutoff).all()
    assert str(cutoff) in split.name


def test_time_based_splits_require_timestamps():
    ds = make_dataset(timestamps=False)
    with pytest.raises(DataError, match="no timestamp"):
        S.temporal_split(ds)
    with pytest.raises(DataError, match="no timestamp"):
        S.leave_last_n(ds)


# ---------------------------------------------------------------------- leave last n
@given(ds=datasets, n=st.integers(1, 3))
@settings(max_examples=30, deadline=None)
def test_leave_last_puts_each_users_latest_in_test(ds, n):
    split = S.leave_last_n(ds, n=n)
    counts = ds.user_counts()
    expected = np.where(counts > n, n, 0)
    assert np.array_equal(split.test.user_counts(), expected)
    test_rows = rows(split.test)
    for u in np.flatnonzero(counts > n):
        mine = np.flatnonzero(ds.user == u)
        # latest by timestamp, ties by position: sort by (timestamp, position)
        latest = mine[np.lexsort((mine, ds.timestamp[mine]))][-n:]
        assert set(latest) == set(test_rows[ds.user[test_rows] == u])


def test_leave_last_breaks_timestamp_ties_by_file_order():
    ds = Dataset(user=[0, 0, 0, 1], item=[0, 1, 2, 0], value=np.arange(4),
                 timestamp=[5, 9, 9, 1], user_index=IdIndex(["a", "b"]),
                 item_index=IdIndex(["x", "y", "z"]))
    split = S.leave_last_n(ds, n=1, validation_n=1)
    assert rows(split.test).tolist() == [2]  # the later row of the tie at t=9
    assert rows(split.validation).tolist() == [1]
    assert rows(split.train).tolist() == [0, 3]  # user b has only one interaction


def test_leave_last_validation_is_just_before_test_and_leaves_one_in_train():
    ds = make_dataset(n=400, ts_range=10**9)
    split = S.leave_last_n(ds, n=1, validation_n=2)
    counts = ds.user_counts()
    expected_val = np.clip(np.minimum(2, counts - 2), 0, None)
    assert np.array_equal(split.validation.user_counts(), expected_val)
    assert (split.train.user_counts() >= np.minimum(counts, 1)).all()
    last_train = np.full(ds.n_users, -1)
    np.maximum.at(last_train, split.train.user, split.train.timestamp)
    first_test = np.full(ds.n_users, np.iinfo(np.int64).max)
    np.minimum.at(first_test, split.test.user, split.test.timestamp)
    assert (last_train[split.validation.user] < split.validation.timestamp).all()
    assert (split.validation.timestamp < first_test[split.validation.user]).all()


# ---------------------------------------------------------------------- k-fold
@given(ds=datasets, k=st.integers(2, 6), seed=st.integers(0, 1000))
@settings(max_examples=30, deadline=None)
def test_kfold_test_sets_partition_all_but_single_interaction_users(ds, k, seed):
    folds = S.kfold(ds, k=k, seed=seed)
    assert len(folds) == k
    for fold in folds:
        assert_partition(ds, fold)
    counts = ds.user_counts()
    tests = np.concatenate([rows(f.test) for f in folds])
    assert len(tests) == len(np.unique(tests))
    assert np.array_equal(np.sort(tests), np.flatnonzero(counts[ds.user] > 1))
    per_fold = np.stack([f.test.user_counts() for f in folds])
    assert (per_fold.max(axis=0) - per_fold.min(axis=0) <= 1).all()  # stratified by user
    for fold in folds:  # every user keeps interactions in train
        assert (fold.train.user_counts()[counts > 0] > 0).all()


def test_kfold_needs_two_folds():
    with pytest.raises(ConfigError, match="k must be"):
        S.kfold(make_dataset(), k=1)


# ---------------------------------------------------------------------- cold start
@given(ds=datasets, fraction=st.floats(0.05, 0.95), seed=st.integers(0, 1000))
@settings(max_examples=30, deadline=None)
def test_cold_item_holdout_keeps_test_items_out_of_train(ds, fraction, seed):
    active = np.flatnonzero(ds.item_counts())
    if len(active) < 2:
        with pytest.raises(DataError, match="at least 2"):
            S.cold_item_holdout(ds, fraction, seed=seed)
        return
    split = S.cold_item_holdout(ds, fraction, seed=seed)
    test_items = np.flatnonzero(split.test.item_counts())
    assert not np.isin(test_items, split.train.item).any()
    expected = np.clip(np.floor(fraction * len(active) + 0.5), 1, len(active) - 1)
    assert len(test_items) == expected


def test_cold_user_holdout_keeps_test_users_out_of_train():
    ds = make_dataset(n_users=40, n=400)
    split = S.cold_user_holdout(ds, 0.25, seed=1)
    test_users = np.unique(split.test.user)
    assert len(test_users) == 10
    assert not np.isin(test_users, split.train.user).any()
    assert np.array_equal(split.test.user_counts()[test_users], ds.user_counts()[test_users])


# ---------------------------------------------------------------------- validation, filters
def test_validation_split_only_carves_from_the_training_set():
    ds = make_dataset(n=400)
    outer = S.random_holdout(ds, 0.2, seed=0)
    inner = S.validation_split(outer.train, 0.25, seed=0)
    train_rows, val_rows = set(rows(inner.train)), set(rows(inner.test))
    assert train_rows.isdisjoint(val_rows)
    assert train_rows | val_rows == set(rows(outer.train))
    assert val_rows.isdisjoint(rows(outer.test))
    assert inner.test.name.endswith("validation")


def test_keep_min_interactions_single_pass_and_k_core():
    # u0: i0 i1 i2; u1: i0 i1; u2: i2 — i2 has 2 interactions only thanks to u2
    ds = Dataset(user=[0, 0, 0, 1, 1, 2], item=[0, 1, 2, 0, 1, 2], value=np.arange(6),
                 user_index=IdIndex(["u0", "u1", "u2"]), item_index=IdIndex(["i0", "i1", "i2"]))
    once = S.keep_min_interactions(ds, min_user=2, min_item=2)
    assert rows(once).tolist() == [0, 1, 2, 3, 4]  # u2 dropped; i2 counted before
    core = S.keep_min_interactions(ds, min_user=2, min_item=2, iterative=True)
    assert rows(core).tolist() == [0, 1, 3, 4]  # then i2 (1 left) goes too
    assert core.user_index is ds.user_index


@given(ds=datasets, min_user=st.integers(1, 6), min_item=st.integers(1, 6))
@settings(max_examples=30, deadline=None)
def test_k_core_meets_both_minimums(ds, min_user, min_item):
    core = S.keep_min_interactions(ds, min_user, min_item, iterative=True)
    uc, ic = core.user_counts(), core.item_counts()
    assert (uc[uc > 0] >= min_user).all() and (ic[ic > 0] >= min_item).all()


# ---------------------------------------------------------------------- dispatch by name
def test_split_dataset_dispatches_by_name():
    ds = make_dataset(n=400)
    assert set(S.SPLITTERS) == {"random", "temporal", "leave-last", "kfold", "cold-item",
                                "cold-user"}
    assert len(S.split_dataset(ds, "kfold", k=4, seed=1)) == 4
    (one,) = S.split_dataset(ds, "random", test_fraction=0.3, seed=2)
    assert np.array_equal(rows(one.test), rows(S.random_holdout(ds, 0.3, seed=2).test))
    # seed is accepted (and ignored) by deterministic methods
    (temporal,) = S.split_dataset(ds, "temporal", test_fraction=0.3, seed=7)
    assert np.array_equal(rows(temporal.test), rows(S.temporal_split(ds, 0.3).test))
    # test_fraction means the share of items/users for cold methods
    (cold,) = S.split_dataset(ds, "cold-item", test_fraction=0.4, seed=1)
    assert np.array_equal(rows(cold.test), rows(S.cold_item_holdout(ds, 0.4, seed=1).test))


def test_split_dataset_rejects_unknown_methods_and_options():
    ds = make_dataset()
    with pytest.raises(ConfigError, match=r"unknown split method 'nope'.*random"):
        S.split_dataset(ds, "nope")
    with pytest.raises(ConfigError, match=r"'leave-last'.*test_fraction.*takes n, validation_n"):
        S.split_dataset(ds, "leave-last", test_fraction=0.2)
