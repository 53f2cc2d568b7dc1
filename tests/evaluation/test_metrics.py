"""Accuracy and ranking metrics against hand-computed cases, plus property tests."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from trustrec.data import PAD
from trustrec.errors import DataError
from trustrec.evaluation import (
    average_precision_at_k,
    hit_rate_at_k,
    mae,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    reciprocal_rank_at_k,
    rmse,
)

N_ITEMS = 10


def rel_matrix(rows: list[dict[int, float] | set[int]], n_items: int = N_ITEMS) -> sp.csr_matrix:
    """CSR relevance from one set (binary) or dict (graded) of items per row."""
    dense = np.zeros((len(rows), n_items))
    for r, row in enumerate(rows):
        for item in row:
            dense[r, item] = row[item] if isinstance(row, dict) else 1.0
    return sp.csr_matrix(dense)


def test_rmse_and_mae_by_hand() -> None:
    pred, truth = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 5.0])  # errors -1, 0, -2
    assert rmse(pred, truth) == pytest.approx(np.sqrt(5 / 3))
    assert mae(pred, truth) == pytest.approx(1.0)
    assert np.isnan(rmse(np.array([]), np.array([])))
    with pytest.raises(DataError, match="equal"):
        mae(pred, truth[:2])


# Row 0: hits at ranks 1 and 3, three relevant items (0, 2, 9).
# Row 1: one hit at rank 3 of a list padded after rank 3, one relevant item.
# Row 2: no hit.  Row 3: nothing relevant (every metric undefined).
ITEMS = np.array([[0, 1, 2, 3, 4], [5, 6, 7, PAD, PAD], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4]])
RELEVANT = rel_matrix([{0, 2, 9}, {7}, {8}, set()])
NAN = np.nan
IDCG_3 = 1 + 1 / np.log2(3) + 1 / np.log2(4)  # 2.1309...
EXPECTED = {
    "precision@5": [2 / 5, 1 / 5, 0, NAN],
    "recall@5": [2 / 3, 1, 0, NAN],
    "ndcg@5": [(1 + 0.5) / IDCG_3, 0.5 / 1, 0, NAN],  # 0.70392, 0.5
    "map@5": [(1 / 1 + 2 / 3) / 3, (1 / 3) / 1, 0, NAN],  # 0.5556, 0.3333
    "mrr@5": [1, 1 / 3, 0, NAN],
    "hit_rate@5": [1, 1, 0, NAN],
}


@pytest.mark.parametrize(("name", "fn"), [
    ("precision@5", precision_at_k), ("recall@5", recall_at_k), ("ndcg@5", ndcg_at_k),
    ("map@5", average_precision_at_k), ("mrr@5", reciprocal_rank_at_k),
    ("hit_rate@5", hit_rate_at_k),
])
def test_each_metric_by_hand(name, fn) -> None:
    np.testing.assert_allclose(fn(ITEMS, RELEVANT), EXPECTED[name])


def test_ranking_metrics_computes_all_at_once() -> None:
    out = ranking_metrics(ITEMS, RELEVANT, k=5)
    assert out["ndcg@5"][0] == pytest.approx(0.703918, abs=1e-6)
    assert set(out) == set(EXPECTED)
    for name, values in out.items():
        np.testing.assert_allclose(values, EXPECTED[name], err_msg=name)


def test_graded_ndcg_by_hand() -> None:
    items = np.array([[0, 1, 2]])
    rel = rel_matrix([{0: 1.0, 1: 3.0, 5: 2.0}])
    dcg = 1 / np.log2(2) + 3 / np.log2(3)  # 2.8928
    idcg = 3 / np.log2(2) + 2 / np.log2(3) + 1 / np.log2(4)  # 4.7619
    np.testing.assert_allclose(ndcg_at_k(items, rel, graded=True), [dcg / idcg])
    assert dcg / idcg == pytest.approx(0.607492, abs=1e-6)
    np.testing.assert_allclose(ndcg_at_k(items, rel), [(1 + 1 / np.log2(3)) / IDCG_3])


def test_repeated_item_counts_once() -> None:
    rel = rel_matrix([{0, 1}])
    out = ranking_metrics(np.array([[0, 0, 0, 5]]), rel)
    assert out["precision@4"][0] == pytest.approx(1 / 4)
    assert out["recall@4"][0] == pytest.approx(1 / 2)
    assert out["ndcg@4"][0] == pytest.approx(1 / (1 + 1 / np.log2(3)))
    assert out["map@4"][0] == pytest.approx(1 / 2)


def test_pad_slots_are_misses_and_cut_or_pad_to_k() -> None:
    rel = rel_matrix([{0}])
    assert ndcg_at_k(np.array([[PAD, 0]]), rel)[0] == pytest.approx(1 / np.log2(3))
    assert precision_at_k(np.array([[PAD, 0]]), rel)[0] == pytest.approx(1 / 2)
    assert precision_at_k(np.array([[0]]), rel, k=3)[0] == pytest.approx(1 / 3)
    assert hit_rate_at_k(np.array([[3, 0]]), rel, k=1)[0] == 0.0


def test_empty_relevance_is_undefined_not_zero() -> None:
    out = ranking_metrics(np.array([[0, 1]]), sp.csr_matrix((1, N_ITEMS)))
    assert all(np.isnan(v[0]) for v in out.values())


def test_invalid_input_is_refused() -> None:
    with pytest.raises(DataError, match="indices"):
        precision_at_k(np.array([[0, N_ITEMS]]), rel_matrix([{0}]))
    with pytest.raises(DataError, match="rows"):
        precision_at_k(np.array([[0, 1]]), rel_matrix([{0}, {1}]))
    with pytest.raises(DataError, match="≥ 0"):
        precision_at_k(np.array([[0]]), rel_matrix([{0: -1.0}]))
    with pytest.raises(DataError, match="2-D"):
        precision_at_k(np.array([0, 1]), rel_matrix([{0}]))


# --------------------------------------------------------------------------- properties
@st.composite
def lists_and_relevance(draw):
    n = draw(st.integers(1, 5))
    width = draw(st.integers(1, 8))
    items = draw(arrays(np.int64, (n, width), elements=st.integers(PAD, N_ITEMS - 1)))
    rel = draw(arrays(np.float64, (n, N_ITEMS), elements=st.sampled_from([0.0, 1.0, 2.5])))
    return items, sp.csr_matrix(rel)


@settings(max_examples=60, deadline=None)
@given(lists_and_relevance(), st.integers(1, 8))
def test_metrics_are_in_unit_interval_and_undefined_only_without_relevance(data, k) -> None:
    items, rel = data
    has_relevant = np.diff(rel.indptr) > 0
    out = ranking_metrics(items, rel, k)
    out["graded_ndcg"] = ndcg_at_k(items, rel, k, graded=True)
    for name, values in out.items():
        np.testing.assert_array_equal(np.isnan(values), ~has_relevant, err_msg=name)
        defined = values[has_relevant]
        assert np.all((defined >= 0) & (defined <= 1 + 1e-12)), name


@settings(max_examples=60, deadline=None)
@given(lists_and_relevance(), st.integers(1, 8))
def test_perfect_list_scores_one(data, k) -> None:
    _, rel = data
    rel = rel[np.diff(rel.indptr) > 0]
    if rel.shape[0] == 0:
        return
    dense = rel.toarray()
    order = np.argsort(-dense, axis=1, kind="stable")  # most relevant first
    ideal = np.where(np.take_along_axis(dense, order, axis=1) > 0, order, PAD)
    n_rel = np.diff(rel.indptr)
    out = ranking_metrics(ideal, rel, k, graded=True)
    np.testing.assert_allclose(out[f"ndcg@{k}"], 1.0)
    np.testing.assert_allclose(out[f"map@{k}"], 1.0)
    np.testing.assert_allclose(out[f"mrr@{k}"], 1.0)
    np.testing.assert_allclose(out[f"recall@{k}"], np.minimum(n_rel, k) / n_rel)
    np.testing.assert_allclose(out[f"precision@{k}"], np.minimum(n_rel, k) / k)


@settings(max_examples=60, deadline=None)
@given(lists_and_relevance())
def test_recall_and_hit_rate_never_fall_as_k_grows(data) -> None:
    items, rel = data
    keep = np.diff(rel.indptr) > 0
    width = items.shape[1]
    recall = np.array([recall_at_k(items, rel, k)[keep] for k in range(1, width + 1)])
    hits = np.array([hit_rate_at_k(items, rel, k)[keep] for k in range(1, width + 1)])
    assert np.all(np.diff(recall, axis=0) >= 0)
    assert np.all(np.diff(hits, axis=0) >= 0)
