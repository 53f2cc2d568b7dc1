"""User groups and item-side exposure metrics, against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from tests.conftest import planted_frame
from trustrec.data import PAD, Dataset
from trustrec.errors import DataError
from trustrec.fairness import (
    aplt,
    bands,
    calibration_kl,
    category_exposure,
    item_categories,
    long_tail_mask,
    user_groups,
)


def _with_users(users: pd.DataFrame) -> Dataset:
    return Dataset.from_frame(planted_frame(n_users=8, n_items=8, n_groups=2, per_user=4),
                              users=users)


def test_groups_from_text_numeric_and_activity_columns() -> None:
    users = pd.DataFrame({"user_id": [f"u{i}" for i in range(8)],
                          "gender": ["F", "M", "M", "F", None, "M", "M", "F"],
                          "age": [17, 18, 24, 25, 70, 44, 45, np.nan],
                          "cohort": [1, 2, 1, 2, 1, 2, 1, 2]})
    ds = _with_users(users)
    gender = user_groups(ds, "gender")
    assert gender.names == ("F", "M")
    assert gender.codes.tolist() == [0, 1, 1, 0, -1, 1, 1, 0]
    assert gender.labels(np.array([0, 4])).tolist() == ["F", ""]
    age = user_groups(ds, "age", edges=(0, 18, 25, 45))
    assert age.names == ("<18", "18-24", "25-44", "45+")
    assert age.codes.tolist() == [0, 1, 1, 2, 3, 2, 3, -1]
    np.testing.assert_array_equal(age.members("18-24"), [1, 2])
    assert user_groups(ds, "cohort").names == ("1", "2")  # few numeric levels: categories
    activity = user_groups(ds, "activity")  # every planted user has 4 interactions
    assert np.bincount(activity.codes).tolist() in ([3, 3, 2], [2, 3, 3], [3, 2, 3])


def test_default_age_bands_and_errors() -> None:
    codes, names = bands(np.array([5, 18, 34.9, 35, 54, 55, 90, np.nan]))
    assert names == ["<18", "18-24", "25-34", "35-44", "45-54", "55+"]
    assert codes.tolist() == [0, 1, 2, 3, 4, 5, 5, -1]
    ds = _with_users(pd.DataFrame({"user_id": [f"u{i}" for i in range(8)], "one": ["x"] * 8}))
    with pytest.raises(DataError, match="no column 'gender'; valid: one, activity"):
        user_groups(ds, "gender")
    with pytest.raises(DataError, match="at least two groups"):
        user_groups(ds, "one")
    with pytest.raises(DataError, match="no user table"):
        user_groups(Dataset.from_frame(planted_frame()), "gender")


def test_long_tail_and_aplt_by_hand() -> None:
    popularity = np.array([10, 8, 6, 4, 2, 1, 0, 0, 0, 0])  # 6 items with interactions
    tail = long_tail_mask(popularity, head_fraction=1 / 3)  # head: the 2 most popular
    assert tail.tolist() == [False, False] + [True] * 8
    lists = np.array([[0, 1, 2, 3], [4, 5, PAD, PAD], [0, 0, 9, PAD]])
    # list 3: the repeated 0 does not count, so 1 tail item out of 2 counted slots
    np.testing.assert_allclose(aplt(lists, tail), [0.5, 1.0, 0.5])


def test_category_exposure_and_calibration_by_hand() -> None:
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "genres": ["X|Y", "X", "Z"]})
    cats, names = item_categories(items, 3)
    assert names == ["X", "Y", "Z"]
    np.testing.assert_allclose(cats.toarray(), [[0.5, 0.5, 0], [1, 0, 0], [0, 0, 1]])
    lists = np.array([[0, 1], [2, PAD]])
    # slots: a (X .5, Y .5), b (X 1), c (Z 1) → X 1.5, Y .5, Z 1 over 3
    np.testing.assert_allclose(category_exposure(lists, cats), [0.5, 1 / 6, 1 / 3])
    history = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 1]], dtype=float))
    kl = calibration_kl(lists, np.array([0, 1]), history, cats, alpha=0.01)
    p = np.array([0.5, 0.5])  # user 0's history: item a → X .5, Y .5
    q = 0.99 * np.array([0.75, 0.25]) + 0.01 * p  # list: a and b → X .75, Y .25
    np.testing.assert_allclose(kl[0], np.sum(p * np.log(p / q)))
    assert kl[1] == pytest.approx(0.0)  # list {c} matches history {c}
