"""Train the ``als`` model with Spark MLlib and write the standard trustrec artifact.

``train_als`` reads interactions from any Spark-readable path with the single-machine data
rules (:mod:`trustrec.engines.spark_data`), fits ``pyspark.ml.recommendation.ALS`` with
implicit preferences, and returns an ordinary fitted ``als`` model: ``save`` writes the
usual manifest and arrays, and ``Recommender.load`` gives back an
:class:`~trustrec.models.als.Als` that recommends, evaluates, audits and serves unchanged.

Parameter mapping (``AlsConfig`` → Spark): ``factors`` → ``rank``, ``regularization`` →
``regParam``, ``alpha`` → ``alpha``, ``iterations`` → ``maxIter``, ``seed`` → ``seed``;
``implicit=true`` feeds Spark weight 1 per interaction, ``implicit=false`` the values.
Spark multiplies ``regParam`` by each user's (item's) number of positive interactions
(ALS-WR); the artifact records this as ``scale_regularization=true`` so that fold-in for a
new history solves the same problem. Good ``regParam`` values are therefore far smaller
than the single-machine ``regularization`` (about 0.01–0.3 instead of 1–100).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from trustrec.data.dataset import Dataset
from trustrec.errors import ConfigError
from trustrec.models.als import Als, AlsConfig

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pyspark.ml.recommendation import ALSModel
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)


class SparkTrainedAls(Als):
    """An ``als`` model whose factors Spark MLlib learned; saves (and loads) as plain ``als``.

    ``fit`` binds the driver-side dataset (indices, seen items, fingerprint) exactly as
    every model does, then takes the given factors instead of solving.
    """

    def __init__(self, config: AlsConfig, user_factors: np.ndarray,
                 item_factors: np.ndarray) -> None:
        super().__init__(config)
        self._given = (user_factors, item_factors)

    def _fit(self, dataset: Dataset) -> None:
        user_factors, item_factors = self._given
        self._keep_values(dataset)
        expected = ((dataset.n_users, self.config.factors), (dataset.n_items, self.config.factors))
        if (user_factors.shape, item_factors.shape) != expected:
            raise ConfigError(f"spark als: factor shapes {user_factors.shape} and "
                              f"{item_factors.shape} do not match the data, expected {expected}")
        self._set_factors(user_factors, item_factors)


@dataclass(frozen=True)
class SparkFit:
    """A Spark-trained ``als`` model, the driver-side training data and timings in seconds:
    ``read_s`` reading and indexing, ``fit_s`` the ALS fit and collecting its factors,
    ``export_s`` building the trustrec model."""

    model: Als
    dataset: Dataset
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def seconds_per_iteration(self) -> float:
        """ALS fit time divided by the number of iterations."""
        return self.timings["fit_s"] / self.model.config.iterations


def spark_config(config: AlsConfig) -> AlsConfig:
    """The config a Spark-trained model is saved with (``scale_regularization`` set); refuses
    options Spark MLlib has no equivalent for."""
    if config.bm25:
        raise ConfigError("als: bm25=true is not available with --engine spark (Spark MLlib "
                          "has no BM25 weighting); use the single-machine engine")
    return config.replace(scale_regularization=True, threads=0)


def _factors(frame: DataFrame, n: int, rank: int) -> np.ndarray:
    """Spark's ``(id, features)`` factor table as a dense (n, rank) float32 array."""
    local = frame.toPandas()
    out = np.zeros((n, rank), dtype=np.float32)
    if len(local):
        out[local["id"].to_numpy()] = np.stack(local["features"].to_numpy()).astype(np.float32)
    return out


def fit_spark_als(frame: DataFrame, config: AlsConfig, n_users: int, n_items: int,
                  blocks: int | None = None) -> tuple[ALSModel, np.ndarray, np.ndarray]:
    """Fit Spark ALS on an indexed frame ``(u, i, value)``; return the Spark model and its
    user and item factors as dense arrays aligned with the indices."""
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F

    if not config.implicit and frame.filter(F.col("value") < 0).limit(1).count():
        raise ConfigError("als: implicit=false needs values ≥ 0; the data has negative values")
    weight = F.lit(1.0) if config.implicit else F.col("value")
    data = frame.select("u", "i", weight.cast("float").alias("w"))
    n_blocks = blocks or max(1, frame.sparkSession.sparkContext.defaultParallelism)
    solver = ALS(rank=config.factors, maxIter=config.iterations,
                 regParam=config.regularization, alpha=config.alpha, implicitPrefs=True,
                 seed=config.seed, userCol="u", itemCol="i", ratingCol="w",
                 numUserBlocks=n_blocks, numItemBlocks=n_blocks, nonnegative=False,
                 coldStartStrategy="nan")
    spark_model = solver.fit(data)
    users = _factors(spark_model.userFactors, n_users, config.factors)
    items = _factors(spark_model.itemFactors, n_items, config.factors)
    return spark_model, users, items


def train_als(
    data: str | Path,
    config: AlsConfig | None = None,
    *,
    spark: SparkSession | None = None,
    master: str = "local[*]",
    columns: Mapping[str, str] | None = None,
    duplicates: str = "error",
    fmt: str = "auto",
    blocks: int | None = None,
    conf: Mapping[str, str] | None = None,
) -> SparkFit:
    """Train ``als`` with Spark MLlib on interactions at ``data`` (CSV/TSV/Parquet file or
    folder, any Spark-readable URI) and return the fitted trustrec model.

    ``spark`` is an existing session; otherwise one is started on ``master`` (``local[*]``,
    ``spark://host:7077``, ``yarn``, …) with ``conf``. ``columns``, ``duplicates`` and
    ``fmt`` follow :func:`trustrec.engines.spark_data.read_interactions`; ``blocks`` sets
    Spark's user/item block count (default: the session's parallelism). The driver must
    hold the seen-items matrix and the factors (about 24 bytes per interaction plus
    ``4·factors`` bytes per user and item).
    """
    from trustrec.engines.spark_data import index_interactions, read_interactions, spark_session

    cfg = spark_config(config or AlsConfig())
    session = spark or spark_session(master, conf=conf)
    start = time.perf_counter()
    read = read_interactions(session, data, columns=columns, duplicates=duplicates, fmt=fmt)
    indexed = index_interactions(read)
    dataset = indexed.dataset
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    _, users, items = fit_spark_als(indexed.frame, cfg, dataset.n_users, dataset.n_items,
                                    blocks)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    model = SparkTrainedAls(cfg, users, items).fit(dataset)
    indexed.frame.unpersist()
    read.frame.unpersist()
    timings = {"read_s": read_s, "fit_s": fit_s, "export_s": time.perf_counter() - start}
    log.info("spark als on %s: %s", data, timings)
    return SparkFit(model, dataset, timings)
