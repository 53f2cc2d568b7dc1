"""Protocols on tiny fake models: what is counted, what is dropped, what cannot be gamed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trustrec.data import PAD, Dataset, Recommendations
from trustrec.errors import DataError, ModelError
from trustrec.evaluation import (
    EvaluationResult,
    evaluate_ranking,
    evaluate_ratings,
    evaluate_sampled,
)

TRAIN = [("u0", "i0", 4), ("u0", "i1", 3), ("u1", "i0", 5), ("u1", "i2", 4), ("u2", "i1", 2),
         ("u2", "i3", 5), ("u3", "i0", 3), ("u3", "i5", 4)]
# i4 has no training interaction; u4 has none; u3 already has i0; u1 rated i1 low.
TEST = [("u0", "i2", 5), ("u0", "i4", 5), ("u1", "i3", 5), ("u1", "i1", 2), ("u2", "i4", 4),
        ("u3", "i0", 5), ("u4", "i5", 4)]


@pytest.fixture
def split() -> tuple[Dataset, Dataset]:
    frame = pd.DataFrame(TRAIN + TEST, columns=["user_id", "item_id", "rating"])
    full = Dataset.from_frame(frame)
    is_train = np.arange(len(full)) < len(TRAIN)
    return full.filter(is_train), full.filter(~is_train)


def u(ds: Dataset, *names: str) -> np.ndarray:
    return ds.user_index.lookup(list(names))


def i(ds: Dataset, *names: str) -> np.ndarray:
    return ds.item_index.lookup(list(names))


def by_user(ds: Dataset, result: EvaluationResult, metric: str) -> dict[str, float]:
    """A per-user metric keyed by external user ID."""
    return dict(zip(ds.user_index.to_external(result.users), result.per_user[metric],
                    strict=True))


class FixedLists:
    """Returns preset lists (external item IDs per user), whatever the scores it claims."""

    name = "fixed"

    def __init__(self, ds: Dataset, lists: dict[str, list[str]], width: int | None = None):
        self.ds, self.lists, self.width, self.calls = ds, lists, width, []

    def recommend(self, users, k, exclude_seen=True, candidates=None) -> Recommendations:
        self.calls.append((np.asarray(users).copy(), k, exclude_seen))
        width = self.width or k
        items = np.full((len(users), width), PAD, dtype=np.int32)
        for row, user in enumerate(self.ds.user_index.to_external(users)):
            chosen = i(self.ds, *self.lists[user]) if self.lists.get(user) else []
            items[row, :len(chosen)] = chosen
        return Recommendations(users=np.asarray(users), items=items,
                               scores=np.full(items.shape, 1e9, dtype=np.float32),
                               user_index=self.ds.user_index, item_index=self.ds.item_index)


def test_held_out_data_is_filtered_and_counted(split) -> None:
    train, test = split
    model = FixedLists(train, {"u0": ["i2", "i5"], "u1": ["i5", "i3"], "u4": ["i5"]})
    result = evaluate_ranking(model, train, test, k=2, relevance_threshold=4)
    assert result.counts == {
        "n_test_interactions": 7, "n_test_below_threshold": 1,
        "n_test_dropped_unknown_items": 2, "n_test_dropped_seen": 1, "n_test_relevant": 3,
        "n_users_evaluated": 3, "n_users_skipped": 2,
        "n_slots_empty": 1, "n_recommended_seen": 0, "n_recommended_duplicate": 0,
    }
    np.testing.assert_array_equal(result.users, np.sort(u(train, "u0", "u1", "u4")))
    # u0: hit at rank 1 of 1 relevant (unknown i4 is not held against it); u1: hit at rank 2;
    # u4 (no training history): hit at rank 1.
    ndcg = by_user(train, result, "ndcg@2")
    assert ndcg == pytest.approx({"u0": 1.0, "u1": 1 / np.log2(3), "u4": 1.0})
    assert result.metrics["recall@2"] == pytest.approx(1.0)
    assert result.metrics["precision@2"] == pytest.approx((1 / 2 + 1 / 2 + 1 / 2) / 3)
    assert result.metrics["coverage"] == pytest.approx(3 / 6)  # i2, i3, i5 of 6 items
    assert [(len(c[0]), c[1], c[2]) for c in model.calls] == [(3, 2, True)]


def test_threshold_none_keeps_low_ratings_as_relevant(split) -> None:
    train, test = split
    model = FixedLists(train, {"u0": ["i2"], "u1": ["i3"], "u4": ["i5"]})
    result = evaluate_ranking(model, train, test, k=2)
    assert result.counts["n_test_below_threshold"] == 0
    recall = by_user(train, result, "recall@2")
    assert recall["u1"] == pytest.approx(1 / 2)  # i1 (rated 2) now counts as relevant


def test_seen_and_duplicate_items_cannot_inflate_scores(split) -> None:
    train, test = split
    honest = FixedLists(train, {"u0": ["i2", "i5"], "u1": ["i3", "i5"], "u4": ["i5", "i2"]})
    cheat = FixedLists(train, {"u0": ["i2", "i2"], "u1": ["i3", "i0"], "u4": ["i5", "i5"]})
    fair = evaluate_ranking(honest, train, test, k=2, relevance_threshold=4)
    gamed = evaluate_ranking(cheat, train, test, k=2, relevance_threshold=4)
    assert gamed.counts["n_recommended_seen"] == 1  # i0 to u1, who has it in training
    assert gamed.counts["n_recommended_duplicate"] == 2
    for name in ("precision@2", "recall@2", "ndcg@2", "map@2", "mrr@2", "hit_rate@2"):
        assert gamed.metrics[name] <= fair.metrics[name] + 1e-12, name
    assert gamed.metrics["precision@2"] == pytest.approx(1 / 2)
    # the voided seen item adds no exposure or popularity: u1's list is just [i3]
    arp = by_user(train, gamed, "arp")
    assert arp["u1"] == pytest.approx(1.0)  # i3 has one training interaction
    assert gamed.metrics["coverage"] == pytest.approx(3 / 6)


def test_lists_longer_than_k_are_cut(split) -> None:
    train, test = split
    model = FixedLists(train, {"u0": ["i5", "i3", "i2"], "u1": ["i3"], "u4": ["i5"]}, width=3)
    result = evaluate_ranking(model, train, test, k=2, relevance_threshold=4)
    hits = by_user(train, result, "hit_rate@2")
    assert hits == {"u0": 0.0, "u1": 1.0, "u4": 1.0}


def test_oracle_scores_one_and_batches_do_not_matter(split) -> None:
    train, test = split
    oracle = FixedLists(train, {"u0": ["i2"], "u1": ["i3"], "u4": ["i5"]})
    whole = evaluate_ranking(oracle, train, test, k=3, relevance_threshold=4)
    batched = evaluate_ranking(oracle, train, test, k=3, relevance_threshold=4, batch_size=1)
    for name in ("ndcg@3", "recall@3", "map@3", "mrr@3", "hit_rate@3"):
        assert whole.metrics[name] == pytest.approx(1.0)
    assert whole.metrics == batched.metrics
    assert whole.intervals == batched.intervals
    assert len(oracle.calls) == 1 + 3


def test_users_argument_and_item_features(split) -> None:
    train, test = split
    model = FixedLists(train, {"u0": ["i2", "i5"], "u1": ["i3", "i3"]})
    features = np.eye(train.n_items)
    result = evaluate_ranking(model, train, test, k=2, users=u(train, "u0", "u1", "u2"),
                              item_features=features)
    assert result.counts["n_users_evaluated"] == 2 and result.counts["n_users_skipped"] == 1
    ild = by_user(train, result, "ild")
    assert ild["u0"] == pytest.approx(1.0) and np.isnan(ild["u1"])  # one distinct item
    assert result.metrics["ild"] == pytest.approx(1.0)  # mean over lists where defined
    row = result.table_row()
    assert row["ndcg@2_lo"] <= row["ndcg@2"] <= row["ndcg@2_hi"] and row["users"] == 2


def test_misbehaving_models_and_bad_inputs_are_refused(split) -> None:
    train, test = split

    class WrongUsers(FixedLists):
        def recommend(self, users, k, exclude_seen=True, candidates=None):
            recs = super().recommend(users, k)
            return Recommendations(recs.users[::-1], recs.items, recs.scores,
                                   recs.user_index, recs.item_index)

    lists = {"u0": ["i2"], "u1": ["i3"], "u4": ["i5"]}
    with pytest.raises(ModelError, match="other users"):
        evaluate_ranking(WrongUsers(train, lists), train, test, k=2)
    bad = FixedLists(train, lists)
    bad.ds = Dataset.from_frame(pd.DataFrame({"user_id": ["u0", "u1", "u2", "u3", "u4"],
                                              "item_id": [f"x{j}" for j in range(5)]}))
    with pytest.raises(DataError, match="item_index"):
        evaluate_ranking(bad, train, bad.ds.filter(np.ones(5, bool)), k=2)
    with pytest.raises(DataError, match="no user"):
        evaluate_ranking(FixedLists(train, lists), train, test, k=2, users=u(train, "u2"))


def test_result_serialises_without_per_user_unless_asked(split) -> None:
    train, test = split
    result = evaluate_ranking(FixedLists(train, {"u0": ["i2"], "u1": ["i3"], "u4": ["i5"]}),
                              train, test, k=2, relevance_threshold=4)
    plain = result.to_dict()
    assert "per_user" not in plain and plain["metrics"]["ndcg@2"] == pytest.approx(1.0)
    full = result.to_dict(per_user=True)
    assert len(full["users"]) == 3 and len(full["per_user"]["ndcg@2"]) == 3
    assert list(result.to_frame().columns[:2]) == ["user", "precision@2"]


# --------------------------------------------------------------------------- ratings
class ConstantRating:
    """Predicts 3.0 for every pair."""

    name = "constant"

    def predict(self, users, items):
        return np.full(len(users), 3.0)


def test_ratings_by_hand_with_unknowns_counted(split) -> None:
    train, test = split
    result = evaluate_ratings(ConstantRating(), train, test)
    # kept: (u0,i2,5) (u1,i3,5) (u1,i1,2) (u3,i0,5) → errors 2, 2, -1, 2
    assert result.metrics["rmse"] == pytest.approx(np.sqrt(13 / 4))
    assert result.metrics["mae"] == pytest.approx(7 / 4)
    assert result.counts == {"n_test_interactions": 7, "n_test_dropped_unknown_users": 1,
                             "n_test_dropped_unknown_items": 2, "n_pairs_evaluated": 4,
                             "n_users_evaluated": 3, "n_users_skipped": 2}
    per_user = by_user(train, result, "rmse")
    assert per_user == pytest.approx({"u0": 2.0, "u1": np.sqrt(5 / 2), "u3": 2.0})
    lo, hi = result.intervals["rmse"]
    assert lo <= result.metrics["rmse"] <= hi


# --------------------------------------------------------------------------- sampled
class TableScores:
    """Scores from a fixed (n_users, n_items) table."""

    name = "table"

    def __init__(self, table: np.ndarray) -> None:
        self.table = table

    def score(self, users, items=None):
        return self.table[np.asarray(users)]


def test_sampled_protocol_is_labelled_and_ties_count_against(split) -> None:
    train, test = split
    flat = evaluate_sampled(TableScores(np.zeros((5, 6))), train, test, k=1, n_negatives=1,
                            relevance_threshold=4)
    assert flat.protocol == "sampled-1"
    assert flat.metrics == pytest.approx({"sampled_ndcg@1": 0.0, "sampled_hit_rate@1": 0.0,
                                          "sampled_mrr": 0.5})
    with pytest.raises(DataError, match="n_negatives"):
        evaluate_sampled(TableScores(np.zeros((5, 6))), train, test, k=1, n_negatives=3)


def test_sampled_negatives_avoid_items_the_user_touched(planted: Dataset) -> None:
    rng = np.random.default_rng(0)
    in_test = rng.random(len(planted)) < 0.2
    train, test = planted.filter(~in_test), planted.filter(in_test)
    # touched items outscore the held-out ones: drawn as negatives, they would cost a hit
    table = 2.0 * train.csr.toarray().astype(bool) + 1.0 * test.csr.toarray().astype(bool)
    result = evaluate_sampled(TableScores(table), train, test, k=1, n_negatives=10, seed=1)
    assert result.metrics["sampled_hit_rate@1"] == pytest.approx(1.0)
    assert result.counts["n_pairs"] == result.counts["n_test_relevant"]
    again = evaluate_sampled(TableScores(table * 0), train, test, k=3, n_negatives=10, seed=1)
    assert again.metrics["sampled_mrr"] == pytest.approx(1 / 11)


# --------------------------------------------------------------------------- real data
def reference_metrics(lists: list[list[int]], relevant: list[set[int]], k: int) -> dict:
    """Textbook per-user loops, independent of the vectorised implementation."""
    out: dict[str, list[float]] = {"precision": [], "recall": [], "ndcg": [], "map": []}
    for items, rel in zip(lists, relevant, strict=True):
        hits = [item in rel for item in items[:k]]
        dcg = sum(1 / np.log2(j + 2) for j, h in enumerate(hits) if h)
        idcg = sum(1 / np.log2(j + 2) for j in range(min(len(rel), k)))
        ap = sum(sum(hits[:j + 1]) / (j + 1) for j, h in enumerate(hits) if h)
        out["precision"].append(sum(hits) / k)
        out["recall"].append(sum(hits) / len(rel))
        out["ndcg"].append(dcg / idcg)
        out["map"].append(ap / min(len(rel), k))
    return out


def test_movielens_full_ranking_matches_textbook_loops(movielens_dir) -> None:
    from trustrec.models.popularity import Popularity

    cols = ["user_id", "item_id", "rating", "timestamp"]
    base = pd.read_csv(movielens_dir / "ml-100k" / "u1.base", sep="\t", names=cols)
    held = pd.read_csv(movielens_dir / "ml-100k" / "u1.test", sep="\t", names=cols)
    full = Dataset.from_frame(pd.concat([base, held], ignore_index=True))
    is_train = np.arange(len(full)) < len(base)
    train, test = full.filter(is_train), full.filter(~is_train)
    model = Popularity().fit(train)
    k = 10
    result = evaluate_ranking(model, train, test, k=k, relevance_threshold=4)
    counts = result.counts
    assert counts["n_test_interactions"] == len(held) == 20_000
    kept = len(held) - counts["n_test_below_threshold"] - counts["n_test_dropped_unknown_items"]
    assert counts["n_test_relevant"] == kept - counts["n_test_dropped_seen"]
    known = set(base["item_id"])
    good = held[(held["rating"] >= 4) & held["item_id"].isin(known)]
    relevant = [set(i(train, *map(int, g["item_id"]))) for _, g in good.groupby("user_id")]
    users = u(train, *map(int, good.groupby("user_id").groups))
    order = np.argsort(users)
    lists = model.recommend(users[order], k).items.tolist()
    expected = reference_metrics(lists, [relevant[j] for j in order], k)
    for name, values in expected.items():
        np.testing.assert_allclose(result.per_user[f"{name}@{k}"], values, err_msg=name)
