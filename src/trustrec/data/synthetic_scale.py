"""Synthetic interactions at scale (e.g. 1M users × 100k items × 50M interactions), streamed
to Parquet in chunks with memory independent of the number of interactions.

The structure is that of :func:`trustrec.data.synthetic.generate`: users mix latent topics
(Dirichlet tastes), items mix topics and have Zipf popularity, per-user activity follows a
power law. Each interaction draws a topic from the user's mixture, then an item from that
topic's distribution ``∝ popularity · (topic weight + 10⁻³)^taste_strength`` (one binary
search in a per-topic cumulative table), so sampling costs ``O(log n_items)`` per draw
instead of scoring every item. Memory: ``O(n_users + n_topics · n_items + chunk_size)``.
The file holds implicit feedback: ``user_id, item_id`` (int64, from 1) and ``timestamp``,
rows grouped by user and time-ordered within a user; ``trustrec.data.readers.load`` (or
``trustrec train --interactions file.parquet``) reads it into a ``Dataset``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from trustrec.data.synthetic import _START, _allocate, _item_topics, _zipf_weights
from trustrec.errors import ConfigError

_SCHEMA = pa.schema([("user_id", pa.int64()), ("item_id", pa.int64()),
                     ("timestamp", pa.int64())])
_OVERSAMPLE = 1.3  # draws per wanted interaction; repeats of a (user, item) are redrawn
_TASTE_ROUNDS = 3  # rounds of taste-driven draws before short users draw uniformly


@dataclass(frozen=True)
class ScaleData:
    """What :func:`generate_to_parquet` wrote: the file and its exact sizes."""

    path: Path
    n_users: int
    n_items: int
    n_interactions: int
    n_chunks: int


def _topic_table(n_items: int, n_topics: int, popularity_exponent: float,
                 taste_strength: float, rng: np.random.Generator) -> np.ndarray:
    """Flattened per-topic CDFs: entry ``t·n_items + i`` is ``t + P(item ≤ i | topic t)``, so
    one ``searchsorted(table, t + r)`` draws an item of topic ``t``."""
    log_pop = np.log(_zipf_weights(n_items, popularity_exponent, rng))
    phi = _item_topics(n_items, n_topics, rng)
    weights = np.exp(log_pop - log_pop.max())[:, None] * (phi + 1e-3) ** taste_strength
    cdf = np.cumsum(weights, axis=0) / weights.sum(axis=0)
    cdf[-1] = 1.0
    return (cdf.T + np.arange(n_topics)[:, None]).ravel()


def _draw(users: np.ndarray, theta: np.ndarray, table: np.ndarray, n_items: int,
          rng: np.random.Generator) -> np.ndarray:
    """One item per entry of ``users`` (rows of ``theta``): topic, then item of the topic."""
    topic_cdf = np.cumsum(theta[users], axis=1)
    topic = np.minimum((topic_cdf < rng.random(len(users))[:, None]).sum(axis=1),
                       theta.shape[1] - 1)
    pos = np.searchsorted(table, topic + rng.random(len(users)))
    return np.clip(pos - topic * n_items, 0, n_items - 1)


def _chunk(counts: np.ndarray, first_user: int, n_items: int, n_topics: int,
           table: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``counts[j]`` distinct items for user ``first_user + j``; returns (user, item) sorted
    by user. Users whose draws repeat are topped up in vectorised rounds: by taste first,
    then (for the rare heavy user with a narrow taste) uniformly over the catalogue."""
    theta = rng.standard_gamma(0.3, size=(len(counts), n_topics)) + 1e-12
    theta /= theta.sum(axis=1, keepdims=True)
    local = np.repeat(np.arange(len(counts)), np.ceil(counts * _OVERSAMPLE).astype(np.int64))
    keys = np.empty(0, dtype=np.int64)
    for round_no in itertools.count():
        drawn = _draw(local, theta, table, n_items, rng) if round_no < _TASTE_ROUNDS \
            else rng.integers(0, n_items, size=len(local))
        keys = np.concatenate([keys, local * n_items + drawn])
        _, first = np.unique(keys, return_index=True)
        keys = keys[np.sort(first)]  # distinct pairs, in draw order
        user = keys // n_items
        order = np.argsort(user, kind="stable")
        keys, user = keys[order], user[order]
        start = np.searchsorted(user, np.arange(len(counts)))
        rank = np.arange(len(keys)) - start[user]
        keys = keys[rank < counts[user]]
        have = np.bincount(keys // n_items, minlength=len(counts))
        short = np.flatnonzero(have < counts)
        if not len(short):
            break
        local = np.repeat(short, 2 * (counts[short] - have[short]) + 1)
    return keys // n_items + first_user, keys % n_items


def generate_to_parquet(
    path: str | Path,
    n_users: int = 1_000_000,
    n_items: int = 100_000,
    n_interactions: int = 50_000_000,
    *,
    seed: int = 0,
    chunk_size: int = 2_000_000,
    n_topics: int = 8,
    popularity_exponent: float = 0.9,
    activity_exponent: float = 0.5,
    taste_strength: float = 2.0,
    min_per_user: int = 5,
    span_days: int = 730,
) -> ScaleData:
    """Write about ``n_interactions`` implicit interactions to the Parquet file ``path``,
    ``chunk_size`` interactions (rounded to whole users) per row group.

    Deterministic for a given ``seed`` and ``chunk_size``. Per-user counts follow a power law
    (``activity_exponent``) with at least ``min_per_user`` and at most half the catalogue;
    there are no repeated (user, item) pairs and the total is met exactly.
    """
    total = int(n_interactions)
    if n_users < 1 or n_items < 2 or chunk_size < 1:
        raise ConfigError(f"generate_to_parquet: n_users ≥ 1, n_items ≥ 2 and chunk_size ≥ 1 "
                          f"expected, got {n_users}, {n_items}, {chunk_size}")
    if not n_users <= total <= n_users * (n_items // 2):
        raise ConfigError(f"generate_to_parquet: n_interactions must be between n_users "
                          f"({n_users}) and n_users · n_items / 2 ({n_users * (n_items // 2)}), "
                          f"got {total}")
    if not 1 <= n_topics <= 64:
        raise ConfigError(f"generate_to_parquet: n_topics must be in [1, 64], got {n_topics}")
    rng = np.random.default_rng(seed)
    table = _topic_table(n_items, n_topics, popularity_exponent, taste_strength, rng)
    counts = _allocate(_zipf_weights(n_users, activity_exponent, rng), total,
                       low=min(min_per_user, total // n_users), cap=n_items // 2)
    bounds = np.searchsorted(np.cumsum(counts), np.arange(chunk_size, total, chunk_size),
                             side="right")
    edges = np.unique(np.concatenate([[0], bounds, [n_users]]))
    span = span_days * 86_400
    written = 0
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(out, _SCHEMA) as writer:
        for number, (lo, hi) in enumerate(itertools.pairwise(edges)):
            chunk_rng = np.random.default_rng([seed, number])
            user, item = _chunk(counts[lo:hi], int(lo), n_items, n_topics, table, chunk_rng)
            stamp = _START + chunk_rng.integers(0, span, size=len(user))
            order = np.lexsort((stamp, user))
            writer.write_table(pa.table({"user_id": user[order] + 1, "item_id": item[order] + 1,
                                         "timestamp": stamp[order]}, schema=_SCHEMA))
            written += len(user)
    return ScaleData(out, n_users, n_items, written, len(edges) - 1)
