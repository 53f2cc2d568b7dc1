"""Re-rankers keep k unseen items and move what they promise to move."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trustrec.data import PAD, Dataset, split, synthetic
from trustrec.errors import ConfigError, ModelError
from trustrec.evaluation import intra_list_diversity
from trustrec.fairness import (
    MMR,
    Calibrated,
    GroupBoost,
    RerankedModel,
    UserGroups,
    XQuadLongTail,
    aplt,
    audit_fairness,
    calibration_kl,
    item_categories,
    long_tail_mask,
    sweep,
    user_groups,
)
from trustrec.models import create_model

K = 5


@pytest.fixture(scope="module")
def fitted():
    ds = synthetic.generate(n_users=150, n_items=100, n_interactions=3500, seed=2)
    parts = split.random_holdout(ds, 0.2, seed=0)
    return parts, create_model("ease", {"l2": 30}).fit(parts.train)


def _lists(model, reranker, train: Dataset, weight: float) -> np.ndarray:
    users = np.arange(train.n_users)
    return RerankedModel(model, reranker.fit(train).with_weight(weight), 40).recommend(
        users, K).items


@pytest.mark.parametrize("make", [MMR, Calibrated, XQuadLongTail])
def test_keeps_k_unseen_distinct_items_and_weight_zero_is_the_model(fitted, make) -> None:
    parts, model = fitted
    lists = _lists(model, make(), parts.train, 0.8)
    assert lists.shape == (parts.train.n_users, K) and (lists != PAD).all()
    seen = model.seen_
    for u, row in enumerate(lists):
        assert len(set(row)) == K
        assert not set(row) & set(seen[u].indices)
    own = model.recommend(np.arange(parts.train.n_users), K).items
    np.testing.assert_array_equal(_lists(model, make(), parts.train, 0.0), own)


def test_each_reranker_moves_its_quantity(fitted) -> None:
    parts, model = fitted
    train = parts.train
    cats, _ = item_categories(train.items, train.n_items)
    users = np.arange(train.n_users)
    history = train.csr
    before = {name: _lists(model, make(), train, 0.0)
              for name, make in (("mmr", MMR), ("cal", Calibrated), ("xq", XQuadLongTail))}
    after = {name: _lists(model, make(), train, 0.7)
             for name, make in (("mmr", MMR), ("cal", Calibrated), ("xq", XQuadLongTail))}
    assert np.nanmean(intra_list_diversity(after["mmr"], cats)) > \
        np.nanmean(intra_list_diversity(before["mmr"], cats)) + 0.05
    assert np.nanmean(calibration_kl(after["cal"], users, history, cats)) < \
        0.8 * np.nanmean(calibration_kl(before["cal"], users, history, cats))
    tail = long_tail_mask(train.item_counts())
    assert np.nanmean(aplt(after["xq"], tail)) > 1.2 * np.nanmean(aplt(before["xq"], tail))


def _two_tastes() -> Dataset:
    """60 majority users like items 0-9; 20 minority users like items 10-19 (and a few of
    0-9): popularity serves the minority badly."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(80):
        minority = u >= 60
        liked = rng.choice(np.arange(10, 20) if minority else np.arange(10), 6, replace=False)
        extra = rng.choice(np.arange(10), 2, replace=False) if minority else []
        rows += [(f"u{u}", f"i{i}", 1.0) for i in [*liked, *extra]]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"]).drop_duplicates(
        ["user_id", "item_id"])
    users = pd.DataFrame({"user_id": [f"u{u}" for u in range(80)],
                          "side": ["minority" if u >= 60 else "majority" for u in range(80)]})
    return Dataset.from_frame(frame, users=users)


def test_group_boost_closes_a_measured_gap_and_spares_other_users() -> None:
    ds = _two_tastes()
    parts = split.random_holdout(ds, 0.3, seed=0)
    model = create_model("popularity").fit(parts.train)
    groups = user_groups(parts.train, "side")
    audit = audit_fairness(model, parts.train, parts.test, [groups], K, n_boot=20, n_perm=20)
    gap = audit.groups["side"].gaps[f"ndcg@{K}"]
    assert gap.worst == "minority" and gap.absolute > 0.2
    boost = GroupBoost.for_gap(groups, audit.groups["side"], f"ndcg@{K}", 0.6).fit(parts.train)
    after = audit_fairness(RerankedModel(model, boost, 20), parts.train, parts.test, [groups],
                           K, n_boot=20, n_perm=20)
    assert after.groups["side"].gaps[f"ndcg@{K}"].absolute < 0.5 * gap.absolute
    minority = groups.members("minority")
    lists = RerankedModel(model, boost, 20).recommend(minority, K).items
    for u, row in zip(minority, lists, strict=True):
        assert len(set(row)) == K and not set(row) & set(model.seen_[u].indices)
    majority = groups.members("majority")
    np.testing.assert_array_equal(RerankedModel(model, boost, 20).recommend(majority, K).items,
                                  model.recommend(majority, K).items)


def test_sweep_and_errors(fitted) -> None:
    parts, model = fitted
    groups = [user_groups(parts.train, "gender")]
    points = sweep(model, XQuadLongTail().fit(parts.train), [0.0, 0.5], parts.train,
                   parts.test, groups, K, n_candidates=30, n_boot=20, n_perm=20)
    plain = audit_fairness(model, parts.train, parts.test, groups, K, n_boot=20, n_perm=20)
    assert points[0].report.metrics[f"ndcg@{K}"] == pytest.approx(plain.metrics[f"ndcg@{K}"])
    assert points[1].row()["aplt"] > points[0].row()["aplt"]
    assert "gap_gender" in points[0].row()
    with pytest.raises(ConfigError, match="weight must be in"):
        MMR(1.5)
    with pytest.raises(ModelError, match="not fitted"):
        MMR().rerank(np.array([0]), np.array([[1, 2]]), np.array([[1.0, 0.5]]), 1)
    with pytest.raises(ConfigError, match="target groups"):
        GroupBoost(UserGroups("g", np.zeros(3, int), ("a", "b")), ["c"])
