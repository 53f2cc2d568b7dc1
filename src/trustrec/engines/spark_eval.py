"""Distributed top-K evaluation: the full-ranking protocol of
:func:`trustrec.evaluation.protocol.evaluate_ranking`, run by Spark for test sets too big for
one process.

Executors load the saved model (any trustrec artifact, from a path they can read), drop test
pairs the user already had in training, and write each evaluated user's top-``k`` list;
the metrics are then joins and aggregations of Spark DataFrames. On the same model and
data the figures equal the single-machine ones (tested): relevant items are the test items
with at least ``relevance_threshold`` that have a training interaction and that the user
did not have in training; users absent from training get the popularity list, as cold
users do on one machine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from trustrec.errors import DataError
from trustrec.evaluation.metrics import sparse_lookup
from trustrec.models import Recommender
from trustrec.models.topk import top_k

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pyspark.sql import DataFrame, SparkSession

#: Metrics computed per user and averaged over the evaluated users.
RANKING_METRICS = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate")


@dataclass(frozen=True)
class DistributedEvaluation:
    """Metric means over evaluated users (``ndcg@10``, …, ``coverage``), counts of what was
    evaluated and dropped (keys as in ``evaluate_ranking``), and timings in seconds."""

    model: str
    k: int
    metrics: dict[str, float]
    counts: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"model": self.model, "protocol": "full-ranking (spark)", "k": self.k,
                "metrics": dict(self.metrics), "counts": dict(self.counts),
                "timings": dict(self.timings)}


def _drop_seen(model_dir: str, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Keep the test pairs ``(user_id, u, i)`` the user did not have in training."""
    model = Recommender.load(model_dir)
    for batch in batches:
        known = batch["u"].to_numpy() >= 0
        seen = np.zeros(len(batch), dtype=bool)
        seen[known] = sparse_lookup(model.seen_, batch["u"].to_numpy()[known],
                                    batch["i"].to_numpy()[known]) > 0
        yield batch[~seen]


def _top_lists(model_dir: str, k: int, batch_size: int,
               batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Each user's top-``k`` list as rows ``(user_id, i, rank)``; PAD slots are left out."""
    model = Recommender.load(model_dir)
    popular, _ = top_k(model.item_popularity_[None, :], k)
    for batch in batches:
        for start in range(0, len(batch), batch_size):
            part = batch.iloc[start:start + batch_size]
            u = part["u"].to_numpy()
            lists = np.repeat(popular, len(part), axis=0)
            known = u >= 0
            if known.any():
                lists[known] = model.recommend(u[known].astype(np.int32), k).items
            keep = lists >= 0
            yield pd.DataFrame({
                "user_id": np.repeat(part["user_id"].to_numpy(), k)[keep.ravel()],
                "i": lists[keep].astype(np.int32),
                "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), len(part))[keep.ravel()],
            })


def ranking_metrics_spark(lists: DataFrame, relevant: DataFrame, k: int) -> DataFrame:
    """Per-user ``precision, recall, ndcg, map, mrr, hit_rate`` at ``k`` from top lists
    ``(user_id, i, rank)`` (rank 1 = best) and relevant pairs ``(user_id, i)``, with the
    conventions of :mod:`trustrec.evaluation.metrics` (binary relevance, recall over all
    relevant items, NDCG and MAP normalised by ``min(|relevant|, k)`` slots)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    n_rel = relevant.groupBy("user_id").agg(F.count("*").alias("n_rel"))
    hits = lists.filter(F.col("rank") <= k).join(relevant, ["user_id", "i"]).withColumn(
        "hit_no", F.row_number().over(Window.partitionBy("user_id").orderBy("rank")))
    per_hit = hits.groupBy("user_id").agg(
        F.count("*").alias("n_hit"),
        F.sum(1.0 / F.log2(F.col("rank") + 1.0)).alias("dcg"),
        F.min("rank").alias("first_hit"),
        F.sum(F.col("hit_no") / F.col("rank")).alias("ap_sum"))
    users = n_rel.join(per_hit, "user_id", "left").fillna(0, ["n_hit", "dcg", "ap_sum"])
    slots = F.least(F.col("n_rel"), F.lit(k))
    ideal = F.aggregate(F.sequence(F.lit(1), slots), F.lit(0.0),
                        lambda acc, r: acc + 1.0 / F.log2(r + 1.0))
    return users.select(
        "user_id",
        (F.col("n_hit") / k).alias("precision"),
        (F.col("n_hit") / F.col("n_rel")).alias("recall"),
        (F.col("dcg") / ideal).alias("ndcg"),
        (F.col("ap_sum") / slots).alias("map"),
        F.coalesce(1.0 / F.col("first_hit"), F.lit(0.0)).alias("mrr"),
        (F.col("n_hit") > 0).cast("double").alias("hit_rate"))


def _id_type(model: Recommender) -> str:
    return "long" if model.user_index_.kind == "int" else "string"


def evaluate_spark(
    spark: SparkSession,
    model_dir: str | Path,
    test: str | Path,
    k: int = 10,
    *,
    columns: Mapping[str, str] | None = None,
    duplicates: str = "error",
    fmt: str = "auto",
    relevance_threshold: float | None = None,
    batch_size: int = 1024,
) -> DistributedEvaluation:
    """Evaluate the model saved at ``model_dir`` on test interactions at ``test`` (any
    Spark-readable CSV/Parquet path, read with the single-machine rules) with Spark.

    ``model_dir`` must be readable by every executor (a shared file system, or local
    mode). See the module docstring for the protocol; the result holds ``<metric>@k``
    means over evaluated users and ``coverage`` of the catalogue.
    """
    from pyspark.sql import functions as F

    from trustrec.engines.spark_data import lookup_table, read_interactions

    start = time.perf_counter()
    path = str(model_dir)
    model = Recommender.load(path)
    data = read_interactions(spark, test, columns=columns, duplicates=duplicates, fmt=fmt)
    test_kind = "int" if data.frame.schema["user_id"].dataType.typeName() == "long" else "str"
    if test_kind != model.user_index_.kind:
        raise DataError(f"{test}: user IDs are {test_kind}s but the model's are "
                        f"{model.user_index_.kind}s; read train and test from the same format")
    users = lookup_table(spark, model.user_index_, "user_id").withColumnRenamed("idx", "u")
    trained = np.flatnonzero(model.item_popularity_ > 0)  # items without training: unknown
    items = lookup_table(spark, model.item_index_, "item_id", trained) \
        .withColumnRenamed("idx", "i")
    frame = data.frame
    below = F.lit(False) if relevance_threshold is None \
        else F.col("value") < F.lit(float(relevance_threshold))
    tagged = (frame.withColumn("_below", below)
              .join(F.broadcast(items), "item_id", "left")
              .join(F.broadcast(users), "user_id", "left")
              .fillna(-1, ["u"])).cache()
    candidates = tagged.filter(~F.col("_below") & F.col("i").isNotNull()) \
        .select("user_id", "u", "i")
    id_type = _id_type(model)
    relevant = candidates.mapInPandas(
        lambda it: _drop_seen(path, it), f"user_id {id_type}, u int, i int").cache()
    evaluated = relevant.select("user_id", "u").distinct()
    lists = evaluated.mapInPandas(lambda it: _top_lists(path, k, batch_size, it),
                                  f"user_id {id_type}, i int, rank int").cache()
    per_user = ranking_metrics_spark(lists, relevant.select("user_id", "i"), k)
    means = per_user.agg(F.count("*").alias("n"),
                         *[F.avg(m).alias(m) for m in RANKING_METRICS]).collect()[0]
    if not means["n"]:
        raise DataError(f"{test}: no user has a relevant held-out item with a training "
                        "interaction to evaluate")
    tallies = tagged.agg(
        F.count("*").alias("n_test_interactions"),
        F.sum(F.col("_below").cast("int")).alias("n_test_below_threshold"),
        F.sum((~F.col("_below") & F.col("i").isNull()).cast("int"))
        .alias("n_test_dropped_unknown_items"),
        F.sum((~F.col("_below") & F.col("i").isNotNull()).cast("int")).alias("_candidates"),
    ).collect()[0].asDict()
    n_relevant = relevant.count()
    counts = {key: int(v or 0) for key, v in tallies.items() if not key.startswith("_")}
    counts.update(n_test_dropped_seen=int(tallies["_candidates"] or 0) - n_relevant,
                  n_test_relevant=n_relevant, n_users_evaluated=int(means["n"]))
    metrics = {f"{m}@{k}": float(means[m]) for m in RANKING_METRICS}
    metrics["coverage"] = lists.select("i").distinct().count() / model.n_items_
    for table in (tagged, relevant, lists):
        table.unpersist()
    data.frame.unpersist()
    return DistributedEvaluation(model.name, k, metrics, counts,
                                 {"evaluate_s": time.perf_counter() - start})
