"""One local SparkSession for every engine test (starting Spark is the slow part)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    """A one-core local session with one shuffle partition (tiny data: fewest tasks)."""
    pytest.importorskip("pyspark")
    from trustrec.engines.spark_data import spark_session

    session = spark_session("local[1]", conf={"spark.sql.shuffle.partitions": "1",
                                              "spark.default.parallelism": "1"})
    yield session
    session.stop()
