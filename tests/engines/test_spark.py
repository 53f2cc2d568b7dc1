"""Spark engine: same ID mapping, same artifact, same top-K and same metrics as one machine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trustrec.data import readers, synthetic
from trustrec.errors import ConfigError, DataError
from trustrec.evaluation import evaluate_ranking
from trustrec.models import Recommender
from trustrec.models.als import Als, AlsConfig

pytest.importorskip("pyspark")

from trustrec.engines.spark import SparkTrainedAls, fit_spark_als, spark_config
from trustrec.engines.spark_data import index_interactions, read_interactions
from trustrec.engines.spark_eval import evaluate_spark

CONFIG = AlsConfig(factors=6, regularization=0.05, alpha=4.0, iterations=4, seed=1)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Train/test CSVs with string IDs; the test file also holds one seen pair and one item
    unknown to training."""
    ds = synthetic.generate(n_users=50, n_items=30, n_interactions=700, seed=4)
    frame = ds.to_frame()
    test_rows = frame.groupby("user_id").tail(2)
    train = frame.drop(test_rows.index)
    extra = pd.DataFrame({"user_id": [train["user_id"].iloc[0], test_rows["user_id"].iloc[0]],
                          "item_id": [train["item_id"].iloc[0], "i-new"],
                          "rating": [5.0, 4.0], "timestamp": [1, 2]})
    root = tmp_path_factory.mktemp("spark")
    paths = {"train": root / "train.csv", "test": root / "test.csv"}
    train.to_csv(paths["train"], index=False)
    pd.concat([test_rows, extra]).to_csv(paths["test"], index=False)
    return paths


@pytest.fixture(scope="module")
def trained(spark, files, tmp_path_factory):
    """A Spark-fitted ALS, its Spark model, the saved artifact and the single-machine data."""
    data = read_interactions(spark, files["train"])
    indexed = index_interactions(data)
    cfg = spark_config(CONFIG)
    spark_model, users, items = fit_spark_als(indexed.frame, cfg, indexed.dataset.n_users,
                                              indexed.dataset.n_items)
    model = SparkTrainedAls(cfg, users, items).fit(indexed.dataset)
    path = model.save(tmp_path_factory.mktemp("model") / "als")
    return {"spark_model": spark_model, "path": path, "dataset": indexed.dataset}


def test_ids_map_exactly_as_the_single_machine_reader(files, trained) -> None:
    single = readers.load(files["train"]).dataset
    loaded = Recommender.load(trained["path"])
    assert type(loaded) is Als and loaded.config.scale_regularization
    assert loaded.user_index_ == single.user_index and loaded.user_index_.kind == "str"
    assert loaded.item_index_ == single.item_index
    assert trained["dataset"].fingerprint() == single.fingerprint()
    assert (loaded.seen_ != single.csr.astype(bool)).nnz == 0


def test_loaded_artifact_gives_spark_top_k(spark, trained) -> None:
    model = Recommender.load(trained["path"])
    users = np.arange(0, model.n_users_, 7, dtype=np.int32)
    subset = spark.createDataFrame(pd.DataFrame({"u": users}))
    theirs = trained["spark_model"].recommendForUserSubset(subset, 5).toPandas()
    theirs = theirs.set_index("u").loc[users, "recommendations"]
    their_items = np.array([[r["i"] for r in recs] for recs in theirs])
    their_scores = np.array([[r["rating"] for r in recs] for recs in theirs])
    ours = model.recommend(users, 5, exclude_seen=False)
    np.testing.assert_array_equal(ours.items, their_items)
    np.testing.assert_allclose(ours.scores, their_scores, rtol=1e-4, atol=1e-5)


def test_fold_in_reproduces_the_spark_user_factors(trained) -> None:
    model = Recommender.load(trained["path"])
    # an ALS user step from the final item factors is what Spark's last half-iteration did
    for user in (0, 3):
        history = model.seen_[user].indices
        np.testing.assert_allclose(model.fold_in(history), model.user_factors_[user],
                                   rtol=1e-3, atol=1e-4)


def test_explanations_of_spark_als_add_up_to_its_score(trained) -> None:
    """The credits use Spark's count-scaled penalty (ALS-WR), as its user vectors did."""
    from tests.explain.test_exact_credits import assert_exact_credits

    assert_exact_credits(Recommender.load(trained["path"]))


def test_distributed_evaluation_equals_single_machine(spark, files, trained) -> None:
    model = Recommender.load(trained["path"])
    ours = evaluate_spark(spark, trained["path"], files["test"], k=5)
    train = readers.load(files["train"]).dataset
    test = pd.read_csv(files["test"], dtype={"user_id": str, "item_id": str})
    users, known_user = train.user_index.lookup_known(test["user_id"].to_numpy())
    items, known_item = train.item_index.lookup_known(test["item_id"].to_numpy())
    keep = known_user & known_item
    test_ds = train.with_interactions(users[keep], items[keep],
                                      test["rating"].to_numpy()[keep])
    single = evaluate_ranking(model, train, test_ds, k=5)
    for name in ("ndcg@5", "recall@5", "precision@5", "map@5", "mrr@5", "hit_rate@5",
                 "coverage"):
        assert ours.metrics[name] == pytest.approx(single.metrics[name], abs=1e-9), name
    assert ours.counts["n_users_evaluated"] == single.counts["n_users_evaluated"]
    assert ours.counts["n_test_dropped_seen"] == single.counts["n_test_dropped_seen"] == 1
    assert ours.counts["n_test_dropped_unknown_items"] == 1


def test_bad_rows_and_duplicates_are_reported_like_one_machine(spark, tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,item_id,rating\nu1,i1,5\nu2,i1,4\nu2,i2,lots\n")
    with pytest.raises(DataError) as single:
        readers.load(bad)
    with pytest.raises(DataError) as ours:
        read_interactions(spark, bad)
    assert str(ours.value) == str(single.value)
    assert "line 4" in str(ours.value)


def test_parquet_integer_ids_and_last_duplicate_policy(spark, tmp_path) -> None:
    frame = pd.DataFrame({"userId": [30, 10, 30, 20, 10], "movieId": [7, 5, 7, 5, 9],
                          "rating": [1.0, 2.0, 3.0, 4.0, 5.0], "timestamp": [9, 1, 2, 3, 4]})
    path = tmp_path / "ratings.parquet"
    frame.to_parquet(path)
    single = readers.load(path, duplicates="last").dataset
    ours = index_interactions(read_interactions(spark, path, duplicates="last")).dataset
    assert ours.user_index == single.user_index and ours.user_index.kind == "int"
    assert ours.item_index == single.item_index
    assert ours.fingerprint() == single.fingerprint()


def test_spark_refuses_what_it_cannot_train() -> None:
    with pytest.raises(ConfigError, match="bm25"):
        spark_config(AlsConfig(bm25=True))
    with pytest.raises(ConfigError, match="engine spark"):
        Als(AlsConfig(scale_regularization=True)).fit(synthetic.generate(n_users=20, n_items=10,
                                                                         seed=0))
