"""Model-generated profiles: deterministic, realistic lengths and times, targets inserted."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from trustrec.data import synthetic
from trustrec.models import create_model
from trustrec.robustness.generative import BehaviourModel, generative_attack, kmeans


@pytest.fixture(scope="module")
def small():
    return synthetic.generate(n_users=200, n_items=80, density=0.1, seed=1)


def test_generative_attack_is_deterministic_and_untouching(small):
    targets = np.array([10, 20])
    a = generative_attack(small, targets, size=0.05, seed=3, sampler="markov")
    b = generative_attack(small, targets, size=0.05, seed=3, sampler="markov")
    assert np.array_equal(a.dataset.item, b.dataset.item)
    assert np.array_equal(a.dataset.timestamp, b.dataset.timestamp)
    n = len(small)
    assert np.array_equal(a.dataset.item[:n], small.item)
    assert np.array_equal(a.dataset.value[:n], small.value)
    assert a.info["generator"] == "markov" and a.n_fake == 10


def test_generated_profiles_look_real_and_hold_each_target_once(small):
    targets = np.array([10, 20])
    a = generative_attack(small, targets, size=0.05, seed=0, sampler="markov")
    ds = a.dataset
    fake = ds.user >= a.n_genuine
    user, item = ds.user[fake] - a.n_genuine, ds.item[fake]
    assert len(np.unique(user.astype(np.int64) * ds.n_items + item)) == fake.sum()
    assert np.bincount(user[np.isin(item, targets)]).tolist() == [2] * a.n_fake
    lengths = np.bincount(user)
    assert lengths.min() >= 3 and lengths.max() <= small.user_counts().max()
    ts = ds.timestamp[fake]
    assert ts.min() >= small.timestamp.min() and ts.max() <= small.timestamp.max()
    assert set(np.unique(ds.value[fake])) <= {1.0, 2.0, 3.0, 4.0, 5.0}


def test_a_fitted_next_item_model_can_sample_the_profiles(small):
    knn = create_model("itemknn").fit(small)
    a = generative_attack(small, np.array([5]), size=0.03, seed=0, model=knn, max_length=12)
    assert a.info["generator"] == "itemknn"
    assert np.bincount(a.dataset.user[a.dataset.user >= a.n_genuine]).max() <= 12


def test_markov_chain_follows_real_transitions(small):
    model = BehaviourModel(n_segments=3, smoothing=0.0, seed=0).fit(small)
    profiles = model.sample(20, np.random.default_rng(0), np.array([], dtype=np.int32),
                            max_length=10)
    real = set(zip(model.keys_ % small.n_items, model.successors_, strict=True))
    steps = [pair for row, n in zip(profiles.items, profiles.lengths, strict=True)
             for pair in pairwise(row[:n])]
    share = np.mean([s in real for s in steps])
    assert share > 0.7  # unsmoothed: real transitions unless the successor was used up


def test_kmeans_separates_obvious_clusters():
    rng = np.random.default_rng(0)
    points = np.vstack([rng.normal(0, 0.1, (30, 2)), rng.normal(5, 0.1, (30, 2))])
    labels = kmeans(points, 2, seed=0)
    assert len(set(labels[:30])) == 1 and len(set(labels[30:])) == 1
    assert labels[0] != labels[-1]
