"""The data rules of :mod:`trustrec.data`, applied by Spark to any Spark-readable path.

A CSV/Parquet file (or a folder of them, on any file system Spark reads: local, HDFS, S3 …)
becomes a cleaned Spark DataFrame whose IDs are typed exactly as the single-machine reader
types them (CSV IDs stay strings as written, minus surrounding spaces; Parquet integer IDs
stay integers; whole-number float IDs become integers), with the same duplicate policies.
IDs get their dense indices in order of first appearance in the file (files in name order),
which is what :meth:`IdIndex.factorize` does on one machine: a model trained by Spark maps
every external ID to the same index as one trained by ``trustrec train``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from trustrec.data.dataset import Dataset
from trustrec.data.ids import IdIndex
from trustrec.data.tables import (
    INTERACTION_ROLES,
    data_name,
    resolve_columns,
    sniff_sep,
    split_fields,
)
from trustrec.data.validate import DUPLICATES_HINT, check_policy, clean_interactions
from trustrec.errors import ConfigError, DataError

if TYPE_CHECKING:  # pragma: no cover - typing only, pyspark is an optional extra
    from pyspark.sql import Column, DataFrame, SparkSession

_PARQUET = (".parquet", ".pq")
_FIELDS = ("user_id", "item_id", "rating", "timestamp")
#: Spark settings for a session started by trustrec (the caller's settings take precedence).
SESSION_DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.adaptive.enabled": "true",
}


def spark_session(master: str = "local[*]", app_name: str = "trustrec",
                  conf: Mapping[str, str] | None = None) -> SparkSession:
    """Start (or reuse) a SparkSession on ``master`` (``local[*]``, ``spark://host:7077``,
    ``yarn``, ``k8s://…``); ``conf`` adds Spark settings such as executor memory.

    Sets ``PYSPARK_PYTHON`` to this interpreter when unset, so that Python workers can
    import trustrec; on a cluster, point it at an environment with trustrec installed.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError("the Spark engine needs pyspark: pip install 'trustrec[scale]'") \
            from None
    # Python workers run this interpreter (which has trustrec) unless told otherwise
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in {**SESSION_DEFAULTS, **dict(conf or {})}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


@dataclass(frozen=True)
class SparkInteractions:
    """Cleaned interactions in Spark: columns ``user_id, item_id, value`` (double),
    ``timestamp`` (long, when the source has one) and the file-order key ``_file, _row``."""

    frame: DataFrame
    source: str
    explicit: bool
    timestamps: bool
    rows_read: int
    rows_kept: int

    def lines(self) -> list[str]:
        """A short human summary of the read."""
        out = [f"{self.source}: read {self.rows_read:,} rows, kept {self.rows_kept:,} (Spark)"]
        if not self.explicit:
            out.append("no rating column: implicit feedback, every value is 1")
        return out


def _is_parquet(path: str, fmt: str) -> bool:
    if fmt not in ("auto", "csv", "parquet"):
        raise ConfigError(f"format={fmt!r}: expected auto, csv or parquet")
    if fmt != "auto":
        return fmt == "parquet"
    lowered = path.rstrip("/").lower()
    local = Path(path)
    return lowered.endswith(_PARQUET) or (local.is_dir() and any(local.glob("*.parquet")))


def _raw_frame(spark: SparkSession, path: str, fmt: str,
               columns: Mapping[str, str] | None) -> tuple[DataFrame, dict[str, str], bool]:
    """Read ``path`` as CSV (all columns as text, like the single-machine reader) or Parquet;
    return the frame (our field names, file path, row key), ``{our field: file column}`` and
    whether it is Parquet."""
    from pyspark.sql import functions as F

    parquet = _is_parquet(path, fmt)
    if parquet:
        frame = spark.read.parquet(path)
        found = list(frame.columns)
    else:
        first = spark.read.text(path).limit(1).collect()
        if not first or not str(first[0][0]).strip():
            raise DataError(f"{path}: empty file (or an empty first line where a header "
                            "belongs)")
        line = str(first[0][0]).lstrip("\ufeff")
        sep = sniff_sep(Path(path), line)
        if sep == r"\s+":
            raise DataError(f"{path}: fields separated by spaces; the Spark engine reads "
                            "comma, tab, semicolon, '|' or '::' separated files with a header")
        frame = spark.read.options(header="true", sep=sep, inferSchema="false", escape="\"",
                                   ignoreLeadingWhiteSpace=str(sep != "\t").lower(),
                                   encoding="UTF-8").csv(path)
        found = split_fields(line, sep)  # Spark keeps a BOM or padding in header names
        if len(found) != len(frame.columns):
            found = list(frame.columns)
    mapping = resolve_columns(found, columns, source=path, roles=INTERACTION_ROLES,
                              required=("user_id", "item_id"))
    spark_name = dict(zip(found, frame.columns, strict=True))
    picked = frame.select(*[frame[f"`{spark_name[theirs]}`"].alias(ours)
                            for ours, theirs in mapping.items()],
                          "_metadata.file_path", F.monotonically_increasing_id().alias("_row"))
    return picked, mapping, parquet


def _with_file_rank(raw: DataFrame, n_files: int) -> DataFrame:
    """Replace the file path by its rank among the input files in name order (``_file``)."""
    from pyspark.sql import functions as F

    if n_files == 1:  # the common case needs no Spark job
        return raw.drop("file_path").withColumn("_file", F.lit(0))
    paths = sorted(r[0] for r in raw.select("file_path").distinct().collect())
    ranks = raw.sparkSession.createDataFrame(
        pd.DataFrame({"file_path": paths, "_file": np.arange(len(paths), dtype=np.int32)}))
    return raw.join(F.broadcast(ranks), "file_path").drop("file_path")


def _id_column(frame: DataFrame, name: str) -> tuple[Column, Column]:
    """The cleaned ID column (long or trimmed string) and a "this row is bad" flag."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    col = frame[name]
    kind = frame.schema[name].dataType
    if isinstance(kind, T.BooleanType):
        return col, F.lit(True)
    if isinstance(kind, T.IntegralType):
        return col.cast("long"), col.isNull()
    if isinstance(kind, T.FractionalType):
        whole = col.isNotNull() & ~F.isnan(col) & (col == F.floor(col))
        return _try_cast(col, "long"), ~whole
    text = F.trim(col.cast("string"))
    return text, col.isNull() | (text == "")


def _try_cast(col: Column, kind: str) -> Column:
    """``col`` cast to ``kind``, NULL where it does not parse (also under ANSI SQL mode)."""
    return col.try_cast(kind) if hasattr(col, "try_cast") else col.cast(kind)


def _number_column(frame: DataFrame, name: str) -> tuple[Column, Column]:
    """A finite double column and a "missing or not a finite number" flag."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    col = frame[name]
    raw = col if isinstance(frame.schema[name].dataType, T.NumericType) \
        else F.trim(col.cast("string"))
    value = _try_cast(raw, "double")
    bad = value.isNull() | F.isnan(value) | (F.abs(value) == F.lit(float("inf")))
    return value, bad


def _line(frame: DataFrame, file: int, row: int, offset: int) -> int:
    """The line (CSV, header = 1) or row (Parquet) number of row key ``(file, row)``."""
    return frame.filter((frame["_file"] == file) & (frame["_row"] < row)).count() + offset


def _check_rows(raw: DataFrame, flags: dict[str, Column], mapping: dict[str, str],
                source: str, parquet: bool) -> int:
    """Count the rows; if one is bad, re-check it with the single-machine validator so that
    the error is the same (file, line or row, field, problem)."""
    from pyspark.sql import functions as F

    firsts = raw.agg(F.count("*").alias("_n"),
                     *[F.min(F.when(bad, F.struct("_file", "_row"))).alias(field)
                       for field, bad in flags.items()]).collect()[0]
    for field in flags:
        key = firsts[field]
        if key is None:
            continue
        row = raw.filter((raw["_file"] == key[0]) & (raw["_row"] == key[1])).toPandas()
        unit, line = ("row", _line(raw, key[0], key[1], 1)) if parquet \
            else ("line", _line(raw, key[0], key[1], 2))
        named = row.rename(columns={ours: theirs for ours, theirs in mapping.items()})
        clean_interactions(named, source=source, user_col=mapping["user_id"],
                           item_col=mapping["item_id"], rating_col=mapping.get("rating"),
                           timestamp_col=mapping.get("timestamp"), unit=unit,
                           lines=np.array([line]))
        raise DataError(f"{source}, {unit} {line}, field {mapping[field]!r}: not a valid value")
    return int(firsts["_n"])


def _raise_duplicate(clean: DataFrame, keys: list[str], source: str, unit: str,
                     offset: int) -> None:
    """The single-machine duplicate error: the pair of the first repeated row, its lines."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    ranked = clean.withColumn("_k", F.row_number().over(
        Window.partitionBy(*keys).orderBy("_file", "_row")))
    first = ranked.filter("_k = 2").orderBy("_file", "_row").limit(1).collect()[0]
    user, item = first["user_id"], first["item_id"]
    rows = clean.filter((clean["user_id"] == user) & (clean["item_id"] == item)) \
        .orderBy("_file", "_row").limit(5).collect()
    where = ", ".join(str(_line(clean, r["_file"], r["_row"], offset)) for r in rows)
    n_repeat = clean.count() - clean.select(*keys).distinct().count()
    raise DataError(f"{source}: duplicate (user_id, item_id) pair ({user!r}, {item!r}) "
                    f"on {unit}s {where}; {n_repeat:,} repeated row(s) in total. "
                    f"{DUPLICATES_HINT}")


def _merge_duplicates(clean: DataFrame, policy: str, source: str, unit: str,
                      offset: int) -> DataFrame:
    """Apply the duplicate policy of :func:`trustrec.data.validate.clean_interactions`."""
    from pyspark.sql import functions as F

    keys = ["user_id", "item_id"]
    has_ts = "timestamp" in clean.columns
    if policy == "error":
        repeated = clean.groupBy(*keys).count().filter("count > 1").limit(1).collect()
        if repeated:
            _raise_duplicate(clean, keys, source, unit, offset)
        return clean
    if policy == "last":  # latest timestamp wins, then the later row in file order
        order = ["timestamp", "_file", "_row"] if has_ts else ["_file", "_row"]
        latest = F.max(F.struct(*order, *[c for c in clean.columns
                                         if c not in (*keys, *order)])).alias("_m")
        return clean.groupBy(*keys).agg(latest).select(*keys, "_m.*")
    aggs = [F.min(F.struct("_file", "_row")).alias("_first"), F.avg("value").alias("value")]
    if has_ts:
        aggs.append(F.max("timestamp").alias("timestamp"))
    return clean.groupBy(*keys).agg(*aggs).select(*keys, "_first.*", "value",
                                                   *(["timestamp"] if has_ts else []))


def read_interactions(spark: SparkSession, path: str | Path, *,
                      columns: Mapping[str, str] | None = None, duplicates: str = "error",
                      fmt: str = "auto") -> SparkInteractions:
    """Read and clean interactions with Spark, as :func:`trustrec.data.readers.read_interactions`
    does on one machine (same columns and aliases, ID types, errors and duplicate policies).

    ``fmt`` is ``auto`` (Parquet for ``.parquet``/``.pq`` paths and folders of Parquet files,
    CSV/TSV otherwise), ``csv`` or ``parquet``. A bad row raises the single-machine
    :class:`DataError`, naming the file, line (row for Parquet) and field.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    check_policy(duplicates)
    source = str(path)
    raw, mapping, parquet = _raw_frame(spark, source, fmt, columns)
    raw = _with_file_rank(raw, len(raw.inputFiles())).persist(StorageLevel.MEMORY_AND_DISK)
    flags: dict[str, Column] = {}
    cleaned: dict[str, Column] = {}
    for field in _FIELDS:
        if field not in mapping:
            continue
        if field in ("user_id", "item_id"):
            cleaned[field], flags[field] = _id_column(raw, field)
        else:
            cleaned[field], flags[field] = _number_column(raw, field)
    rows_read = _check_rows(raw, flags, mapping, source, parquet)
    value = cleaned.get("rating", F.lit(1.0)).alias("value")
    selected = [cleaned["user_id"].alias("user_id"), cleaned["item_id"].alias("item_id"), value]
    if "timestamp" in cleaned:
        selected.append(F.floor(cleaned["timestamp"]).cast("long").alias("timestamp"))
    clean = raw.select(*selected, "_file", "_row")
    merged = _merge_duplicates(clean, duplicates, source, "row" if parquet else "line",
                               1 if parquet else 2)
    merged = merged.persist(StorageLevel.MEMORY_AND_DISK)
    rows_kept = merged.count()  # materialises the merged rows, so the raw ones can go
    raw.unpersist()
    if rows_kept == 0:
        raise DataError(f"{source}: no interactions (the file is empty or has only a header)")
    return SparkInteractions(merged, source, "rating" in mapping, "timestamp" in mapping,
                             rows_read, rows_kept)


def _index(frame: DataFrame, column: str) -> tuple[IdIndex, DataFrame]:
    """The :class:`IdIndex` of ``column`` in order of first appearance, and a Spark table
    ``(column, idx)`` mapping each ID to its index."""
    from pyspark.sql import functions as F

    first = frame.groupBy(column).agg(F.min(F.struct("_file", "_row")).alias("_first"))
    table = first.select(column, "_first._file", "_first._row").toPandas()
    order = np.lexsort((table["_row"].to_numpy(), table["_file"].to_numpy()))
    ids = table[column].to_numpy()[order]
    kind = "int" if ids.dtype.kind in "iu" else "str"
    index = IdIndex(ids if kind == "int" else ids.astype(str), kind)
    mapping = frame.sparkSession.createDataFrame(
        pd.DataFrame({column: index.ids if kind == "int" else index.ids.astype(object),
                      "idx": np.arange(len(index), dtype=np.int32)}))
    return index, mapping


@dataclass(frozen=True)
class IndexedInteractions:
    """Interactions with dense indices in Spark (``u, i, value[, timestamp]``) and the same
    data as a driver-side :class:`Dataset` (rows in file order, as one machine reads them)."""

    frame: DataFrame
    dataset: Dataset


def index_interactions(data: SparkInteractions, name: str | None = None) -> IndexedInteractions:
    """Map IDs to indices as :meth:`IdIndex.factorize` would and collect the
    :class:`Dataset` the artifact needs (its seen-items matrix and fingerprint).

    The driver holds about 24 bytes per interaction (indices, value, timestamp, order key).
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    user_index, user_map = _index(data.frame, "user_id")
    item_index, item_map = _index(data.frame, "item_id")
    frame = (data.frame
             .join(F.broadcast(user_map.withColumnRenamed("idx", "u")), "user_id")
             .join(F.broadcast(item_map.withColumnRenamed("idx", "i")), "item_id")
             .drop("user_id", "item_id")).persist(StorageLevel.MEMORY_AND_DISK)
    local = frame.toPandas()
    order = np.lexsort((local["_row"].to_numpy(), local["_file"].to_numpy()))
    ts = local["timestamp"].to_numpy(np.int64)[order] if data.timestamps else None
    dataset = Dataset(
        user=local["u"].to_numpy(np.int32)[order], item=local["i"].to_numpy(np.int32)[order],
        value=local["value"].to_numpy(np.float32)[order], timestamp=ts,
        user_index=user_index, item_index=item_index, explicit=data.explicit,
        name=name or data_name(Path(data.source)))
    return IndexedInteractions(frame.drop("_file", "_row"), dataset)


def lookup_table(spark: SparkSession, index: IdIndex, column: str,
                 rows: np.ndarray | None = None) -> DataFrame:
    """A Spark table ``(column, idx)`` of an existing :class:`IdIndex` (for test data),
    restricted to the indices ``rows`` when given."""
    idx = np.arange(len(index), dtype=np.int32) if rows is None else rows.astype(np.int32)
    ids: Any = index.ids[idx] if index.kind == "int" else index.ids[idx].astype(object)
    return spark.createDataFrame(pd.DataFrame({column: ids, "idx": idx}))
