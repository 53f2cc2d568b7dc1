"""Profile-injection attacks: determinism, untouched genuine data, IDs, profile contents."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trustrec.data import Dataset
from trustrec.errors import ConfigError
from trustrec.robustness.attacks import CLASSIC_KINDS, profile_attack
from trustrec.robustness.inject import fake_ids, in_space

TARGETS = np.array([3, 7])


def _same(a: Dataset, b: Dataset) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f))
               for f in ("user", "item", "value", "timestamp"))


@pytest.mark.parametrize("kind", CLASSIC_KINDS)
def test_attack_is_deterministic_and_leaves_genuine_data_untouched(planted, kind):
    a = profile_attack(planted, TARGETS, kind, size=0.1, filler=0.2, seed=5)
    b = profile_attack(planted, TARGETS, kind, size=0.1, filler=0.2, seed=5)
    c = profile_attack(planted, TARGETS, kind, size=0.1, filler=0.2, seed=6)
    assert _same(a.dataset, b.dataset)
    assert not _same(a.dataset, c.dataset)
    n = len(planted)
    ds = a.dataset
    for f in ("user", "item", "value", "timestamp"):
        assert np.array_equal(getattr(ds, f)[:n], getattr(planted, f))
    assert np.array_equal(ds.user_index.ids[:planted.n_users], planted.user_index.ids)
    assert a.n_fake == 6 and ds.n_users == planted.n_users + 6
    assert (ds.user[n:] >= planted.n_users).all()
    assert set(ds.user_index.ids[planted.n_users:]).isdisjoint(planted.user_index.ids)


@pytest.mark.parametrize("intent,rating", [("push", 5.0), ("nuke", 1.0)])
def test_every_fake_profile_rates_every_target_at_the_extreme(planted, intent, rating):
    a = profile_attack(planted, TARGETS, "bandwagon", size=0.1, filler=0.2, intent=intent,
                       seed=0)
    fake = a.dataset.user >= a.n_genuine
    user, item, value = a.dataset.user[fake], a.dataset.item[fake], a.dataset.value[fake]
    on_target = np.isin(item, TARGETS)
    assert np.bincount(user[on_target] - a.n_genuine).tolist() == [2] * a.n_fake
    assert (value[on_target] == rating).all()
    # each fake profile has distinct items, all filler drawn from known items
    pairs = user.astype(np.int64) * planted.n_items + item
    assert len(np.unique(pairs)) == len(pairs)
    ts = a.dataset.timestamp[fake]
    assert ts.min() >= planted.timestamp.min() and ts.max() <= planted.timestamp.max()


def test_burst_time_pattern_puts_fakes_in_the_last_day(planted):
    frame = planted.to_frame()
    frame["timestamp"] = frame["timestamp"] * 10_000
    ds = Dataset.from_frame(frame)
    a = profile_attack(ds, TARGETS, "random", size=0.1, filler=0.2, time_pattern="burst")
    ts = a.dataset.timestamp[a.dataset.user >= a.n_genuine]
    assert ts.min() >= ds.timestamp.max() - 86_400


def test_fake_ids_never_collide():
    from trustrec.data import IdIndex

    taken = IdIndex(np.array(["fake000000", "fake000001", "u1"]))
    new = fake_ids(taken, 3)
    assert not taken.lookup_known(new)[1].any() and len(set(new)) == 3
    ints = IdIndex(np.array([5, 900, 12]))
    assert fake_ids(ints, 2).tolist() == [901, 902]


def test_in_space_keeps_genuine_indices(planted):
    a = profile_attack(planted, TARGETS, "average", size=0.1, filler=0.2)
    test = in_space(planted, a.dataset)
    assert test.user_index is a.dataset.user_index
    assert np.array_equal(test.user, planted.user)


def test_invalid_attacks_are_refused(planted):
    with pytest.raises(ConfigError, match="attack kind"):
        profile_attack(planted, TARGETS, "sybil")
    with pytest.raises(ConfigError, match="size"):
        profile_attack(planted, TARGETS, size=1.5)
    with pytest.raises(ConfigError, match="targets"):
        profile_attack(planted, np.array([999]))
    implicit = Dataset.from_frame(pd.DataFrame({"user_id": ["a", "b"], "item_id": ["x", "y"]}))
    with pytest.raises(ConfigError, match="nuke"):
        profile_attack(implicit, np.array([0]), "random", size=0.5, filler=0.5, intent="nuke")
