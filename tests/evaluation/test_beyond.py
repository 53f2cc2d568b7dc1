"""Beyond-accuracy metrics against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from trustrec.data import PAD
from trustrec.errors import DataError
from trustrec.evaluation import (
    average_recommended_popularity,
    beyond,
    catalogue_coverage,
    exposure,
    gini,
    intra_list_diversity,
    novelty,
)

# Item 1 is repeated in the second list: it is exposed once there.
LISTS = np.array([[0, 1, PAD], [1, 1, 2]])


def test_exposure_and_coverage() -> None:
    np.testing.assert_array_equal(exposure(LISTS, 5), [1, 2, 1, 0, 0])
    assert catalogue_coverage(LISTS, 5) == pytest.approx(3 / 5)
    with pytest.raises(DataError, match=r"\[0, 2\)"):
        exposure(LISTS, 2)


def test_gini_by_hand() -> None:
    assert gini(np.array([3, 3, 3, 3])) == pytest.approx(0.0)
    assert gini(np.array([0, 0, 0, 4])) == pytest.approx(3 / 4)  # (n - 1) / n
    # sorted [0, 0, 1, 1, 2], total 4: Σ(2i - 6)x = 0·1 + 2·1 + 4·2 = 10 → 10 / (5·4)
    assert gini(exposure(LISTS, 5)) == pytest.approx(0.5)
    assert np.isnan(gini(np.zeros(3)))
    with pytest.raises(DataError):
        gini(np.array([1.0, -1.0]))


def test_average_recommended_popularity() -> None:
    popularity = np.array([10, 4, 2, 0, 0])
    np.testing.assert_allclose(average_recommended_popularity(LISTS, popularity),
                               [(10 + 4) / 2, (4 + 2) / 2])
    empty = average_recommended_popularity(np.array([[PAD, PAD]]), popularity)
    assert np.isnan(empty[0])


def test_novelty_is_self_information_of_popularity_share() -> None:
    popularity = np.array([10, 4, 2, 0])  # total 16; item 3 is treated as count 1
    lists = np.array([[1, 2], [3, PAD], [0, 0]])
    # -log2(4/16) = 2, -log2(2/16) = 3, -log2(1/16) = 4, -log2(10/16) = 0.678
    np.testing.assert_allclose(novelty(lists, popularity), [2.5, 4.0, -np.log2(10 / 16)])


FEATURES = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])


@pytest.mark.parametrize("features", [FEATURES, sp.csr_matrix(FEATURES)],
                         ids=["dense", "sparse"])
def test_intra_list_diversity_by_hand(features) -> None:
    lists = np.array([[0, 1, 2], [0, 0, 1], [0, PAD, PAD], [0, 3, PAD]])
    far = 1 - 1 / np.sqrt(2)  # cosine distance of [1, 0] or [0, 1] to [1, 1]: 0.2929
    expected = [(1 + far + far) / 3, 1.0, np.nan, 1.0]  # a featureless item is at distance 1
    np.testing.assert_allclose(intra_list_diversity(lists, features), expected)


def test_intra_list_diversity_is_the_same_in_small_blocks(monkeypatch) -> None:
    rng = np.random.default_rng(0)
    features = rng.random((30, 4))
    lists = rng.integers(PAD, 30, size=(25, 6))
    whole = intra_list_diversity(lists, features)
    monkeypatch.setattr(beyond, "_FEATURE_BLOCK", 1)
    np.testing.assert_allclose(intra_list_diversity(lists, features), whole)
