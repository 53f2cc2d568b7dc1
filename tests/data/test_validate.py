"""clean_interactions: every error names file, line and field; duplicates follow the policy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trustrec.data.validate import CleaningReport, clean_ids, clean_interactions, combine_reports
from trustrec.errors import ConfigError, DataError


def frame(rows, columns=("user_id", "item_id", "rating", "timestamp")) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns))


def clean(data: pd.DataFrame, **kw):
    return clean_interactions(data, source="r.csv", **kw)


def test_clean_frame_keeps_rows_types_and_order():
    data = frame([["007", "b", "4", "10"], ["1", "a", "3.5", "12"]])
    out, report = clean(data)
    assert out["user_id"].tolist() == ["007", "1"]
    assert out["rating"].tolist() == [4.0, 3.5]
    assert out["timestamp"].dtype == np.int64
    assert (report.rows_read, report.rows_kept, report.duplicate_rows) == (2, 2, 0)
    assert not report.implicit and report.timestamps


def test_integer_ids_stay_integers():
    out, _ = clean(frame([[1, 7, 4.0, 1], [2, 8, 5.0, 2]]))
    assert out["user_id"].dtype == np.int64 and out["item_id"].tolist() == [7, 8]


def test_whole_float_ids_become_integers_and_fractional_ones_fail():
    out, _ = clean(frame([[1.0, 7.0, 4.0, 1]]))
    assert out["user_id"].dtype == np.int64
    with pytest.raises(DataError, match=r"r\.csv, line 2, field 'item_id'.*1\.5"):
        clean(frame([[1.0, 1.5, 4.0, 1]]))


def test_optional_rating_and_timestamp():
    out, report = clean(frame([["u", "i"]], ["user_id", "item_id"]), rating_col=None,
                        timestamp_col=None)
    assert list(out.columns) == ["user_id", "item_id"]
    assert report.implicit and not report.timestamps


def test_missing_columns_list_the_columns_found():
    with pytest.raises(DataError, match=r"r\.csv: missing column\(s\) 'rating'; found columns: "
                                        r"'user_id', 'item_id', 'score'"):
        clean(frame([["u", "i", 1]], ["user_id", "item_id", "score"]), timestamp_col=None)


def test_empty_frame_is_an_error():
    with pytest.raises(DataError, match=r"r\.csv: no interactions"):
        clean(frame([]))


@pytest.mark.parametrize(("row", "message"), [
    (["u", "i", "abc", "1"], r"r\.csv, line 3, field 'rating': expected a number for rating, "
                             r"got 'abc'"),
    (["u", "i", None, "1"], r"r\.csv, line 3, field 'rating': missing rating"),
    (["u", "i", "", "1"], r"r\.csv, line 3, field 'rating': missing rating"),
    (["u", "i", "4", "2020-13-45"], r"line 3, field 'timestamp': expected a number for "
                                    r"timestamp \(unix seconds or ISO-8601 date-time\), got "
                                    r"'2020-13-45'"),
    ([None, "i", "4", "1"], r"r\.csv, line 3, field 'user_id': missing ID"),
    (["u", "  ", "4", "1"], r"r\.csv, line 3, field 'item_id': empty ID"),
    (["u", "i", "inf", "1"], r"line 3, field 'rating': expected a number"),
])
def test_bad_values_name_file_line_and_field(row, message):
    data = frame([["a", "b", "4", "1"], row])
    with pytest.raises(DataError, match=message):
        clean(data)


def test_field_label_shows_the_file_column_and_our_name():
    data = frame([["u", "i", "x"]], ["userId", "movieId", "score"])
    with pytest.raises(DataError, match=r"line 2, field 'score' \(rating\)"):
        clean(data, user_col="userId", item_col="movieId", rating_col="score",
              timestamp_col=None)


def test_explicit_line_numbers_and_unit():
    data = frame([["u", "i", "4", "1"], ["u", "j", "?", "1"]])
    with pytest.raises(DataError, match=r"r\.csv, line 17, field 'rating'"):
        clean(data, lines=np.array([9, 17]))
    with pytest.raises(DataError, match=r"r\.csv, row 2, field 'rating'"):
        clean(data, line_offset=1, unit="row")


def test_rating_scale_violation_names_line_value_and_scale():
    data = frame([["u", "i", "5", "1"], ["u", "j", "6", "1"], ["u", "k", "0", "1"]])
    with pytest.raises(DataError, match=r"line 3, field 'rating': rating 6 is outside the "
                                        r"declared scale 1–5 \(2 such rows\)"):
        clean(data, rating_scale=(1, 5))
    _, report = clean(data.iloc[:1], rating_scale=(1, 5))
    assert report.rating_scale == (1.0, 5.0)


def test_bad_options_are_config_errors():
    data = frame([["u", "i", "4", "1"]])
    with pytest.raises(ConfigError, match="duplicates='first'"):
        clean(data, duplicates="first")
    with pytest.raises(ConfigError, match="rating_scale"):
        clean(data, rating_scale=(5, 1))


DUPS = frame([
    ["u1", "i1", 1.0, 30],  # line 2
    ["u1", "i2", 2.0, 10],  # line 3
    ["u1", "i1", 3.0, 20],  # line 4: repeats line 2, but older
    ["u2", "i1", 4.0, 10],  # line 5
    ["u1", "i1", 5.0, 10],  # line 6: repeats again, oldest
])


def test_duplicates_error_names_the_first_duplicate_lines():
    with pytest.raises(DataError, match=r"r\.csv: duplicate \(user_id, item_id\) pair "
                                        r"\('u1', 'i1'\) on lines 2, 4, 6; 2 repeated"):
        clean(DUPS)


def test_duplicates_last_keeps_latest_timestamp_in_file_order():
    out, report = clean(DUPS, duplicates="last")
    assert out.values.tolist() == [["u1", "i1", 1.0, 30], ["u1", "i2", 2.0, 10],
                                   ["u2", "i1", 4.0, 10]]
    assert (report.rows_read, report.rows_kept) == (5, 3)
    assert (report.duplicate_rows, report.duplicate_pairs) == (2, 1)
    assert any("'last'" in line for line in report.lines())


def test_duplicates_last_without_timestamps_is_last_in_file():
    out, _ = clean(DUPS.drop(columns="timestamp"), duplicates="last", timestamp_col=None)
    assert out.values.tolist() == [["u1", "i2", 2.0], ["u2", "i1", 4.0], ["u1", "i1", 5.0]]


def test_duplicates_last_ties_broken_by_file_order():
    data = frame([["u", "i", 1.0, 5], ["u", "i", 2.0, 5]])
    out, _ = clean(data, duplicates="last")
    assert out["rating"].tolist() == [2.0]


def test_duplicates_mean_averages_and_keeps_latest_timestamp():
    out, report = clean(DUPS, duplicates="mean")
    assert out.values.tolist() == [["u1", "i1", 3.0, 30], ["u1", "i2", 2.0, 10],
                                   ["u2", "i1", 4.0, 10]]
    assert report.duplicate_policy == "mean"


def test_duplicates_mean_for_implicit_data_keeps_one_row_per_pair():
    data = frame([["u", "i"], ["u", "i"], ["v", "i"]], ["user_id", "item_id"])
    out, report = clean(data, duplicates="mean", rating_col=None, timestamp_col=None)
    assert out.values.tolist() == [["u", "i"], ["v", "i"]]
    assert report.duplicate_rows == 1


def test_report_to_dict_and_lines():
    _, report = clean(DUPS, duplicates="mean", rating_scale=(1, 5))
    d = report.to_dict()
    assert d["rows_read"] == 5 and d["rows_kept"] == 3 and d["rating_scale"] == [1.0, 5.0]
    text = "\n".join(report.lines())
    assert "read 5 rows, kept 3" in text and "2 repeated rows of 1 (user, item) pairs" in text
    assert "1–5" in text


def test_combine_reports_sums_counts():
    a = CleaningReport("a", rows_read=3, rows_kept=2, duplicate_rows=1, duplicate_pairs=1)
    b = CleaningReport("b", rows_read=5, rows_kept=5)
    both = combine_reports([a, b], "a, b")
    assert (both.rows_read, both.rows_kept, both.duplicate_rows) == (8, 7, 1)
    with pytest.raises(DataError):
        combine_reports([], "x")


def test_clean_ids_unique_names_lines():
    with pytest.raises(DataError, match=r"items\.csv: duplicate item_id 'a' on lines 2, 4"):
        clean_ids(pd.Series(["a", "b", "a"]), source="items.csv", field="item_id", unique=True)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["u1", "u2", "u3"]), st.sampled_from(["a", "b", "c"]),
                          st.integers(1, 5), st.integers(0, 3)), min_size=1, max_size=30),
       st.sampled_from(["last", "mean"]))
def test_merge_policies_leave_unique_pairs_and_count_every_row(rows, policy):
    data = frame(rows)
    out, report = clean(data, duplicates=policy)
    assert not out.duplicated(["user_id", "item_id"]).any()
    assert report.rows_kept == len(out) == data[["user_id", "item_id"]].drop_duplicates().shape[0]
    assert report.rows_read - report.rows_kept == report.duplicate_rows
    merged = out.set_index(["user_id", "item_id"])["rating"].sort_index()
    if policy == "mean":
        expected = data.groupby(["user_id", "item_id"])["rating"].mean()
    else:  # latest timestamp, then last in file order
        ordered = data.assign(pos=range(len(data))).sort_values(["timestamp", "pos"])
        expected = ordered.groupby(["user_id", "item_id"])["rating"].last()
    assert np.allclose(merged.to_numpy(), expected.sort_index().to_numpy())
