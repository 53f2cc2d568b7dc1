"""Scale generator: exact totals, no repeats, power-law structure, chunked and reproducible."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from trustrec.data import readers
from trustrec.data.synthetic_scale import generate_to_parquet
from trustrec.errors import ConfigError


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    return generate_to_parquet(root / "a.parquet", n_users=2000, n_items=600,
                               n_interactions=40_000, seed=5, chunk_size=7_000)


def test_writes_the_exact_total_in_chunks_without_repeats(written) -> None:
    table = pq.read_table(written.path)
    assert written.n_interactions == table.num_rows == 40_000
    assert written.n_chunks > 1 and pq.ParquetFile(written.path).num_row_groups == \
        written.n_chunks
    user = table["user_id"].to_numpy()
    item = table["item_id"].to_numpy()
    assert len(np.unique(user * 10_000 + item)) == len(user)
    assert user.min() == 1 and user.max() == 2000 and 1 <= item.min() and item.max() <= 600
    assert (np.diff(user) >= 0).all()  # grouped by user
    counts = np.bincount(user)[1:]
    assert counts.min() >= 5


def test_popularity_and_activity_are_skewed(written) -> None:
    table = pq.read_table(written.path)
    items = np.sort(np.bincount(table["item_id"].to_numpy()))[::-1]
    assert items[:60].sum() > 0.3 * items.sum()  # top 10% of items: > 30% of interactions
    users = np.sort(np.bincount(table["user_id"].to_numpy()))[::-1]
    assert users[:200].sum() > 0.2 * users.sum()


def test_same_seed_same_file_and_reader_loads_it(written, tmp_path) -> None:
    again = generate_to_parquet(tmp_path / "b.parquet", n_users=2000, n_items=600,
                                n_interactions=40_000, seed=5, chunk_size=7_000)
    assert pq.read_table(again.path).equals(pq.read_table(written.path))
    other = generate_to_parquet(tmp_path / "c.parquet", n_users=2000, n_items=600,
                                n_interactions=40_000, seed=6, chunk_size=7_000)
    assert not pq.read_table(other.path).equals(pq.read_table(written.path))
    dataset = readers.load(written.path).dataset
    assert len(dataset) == 40_000 and dataset.user_index.kind == "int"
    assert not dataset.explicit and dataset.has_timestamps


def test_rejects_impossible_sizes(tmp_path) -> None:
    with pytest.raises(ConfigError, match="n_interactions"):
        generate_to_parquet(tmp_path / "x.parquet", n_users=10, n_items=4, n_interactions=100)
