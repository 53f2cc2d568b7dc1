"""ANN retrieval benchmark: recall@10 against exact inner-product search, and queries/s.

Item vectors imitate trained factors: a mixture of latent topics projected to ``--dim``
dimensions plus noise, with norms growing with a Zipf popularity (popular items score
higher for everyone, as in ALS). Queries are user vectors drawn the same way. Exact search
is a batched matrix product with ``argpartition`` (numpy BLAS, all cores); ANN is
:class:`trustrec.ann.AnnIndex` (faiss HNSW with inner-product links, all cores), both in
batches of ``--batch`` queries. Recall@10 = share of the exact top-10 found in the ANN
top-10, averaged over the queries.

    .venv/bin/python benchmarks/ann.py --items 200000 --dim 64
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from trustrec.ann import AnnIndex, AnnSettings


def vectors(n: int, dim: int, rng: np.random.Generator, basis: np.ndarray,
            popularity: bool) -> np.ndarray:
    """Topic-mixture vectors (float32), scaled by a Zipf popularity for items."""
    topics = rng.dirichlet(np.full(basis.shape[0], 0.3), size=n).astype(np.float32)
    out = topics @ basis + 0.3 * rng.standard_normal((n, dim), dtype=np.float32)
    if popularity:
        out *= ((rng.permutation(n) + 1.0) ** -0.3).astype(np.float32)[:, None] * 3.0
    return out


def exact_top(queries: np.ndarray, items: np.ndarray, k: int, batch: int) -> np.ndarray:
    """Exact top-``k`` item ids per query (unordered within the k), batched."""
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), batch):
        scores = queries[start:start + batch] @ items.T
        out[start:start + batch] = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return out


def main() -> None:
    """Build, query, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    basis = rng.standard_normal((32, args.dim), dtype=np.float32)
    items = vectors(args.items, args.dim, rng, basis, popularity=True)
    queries = vectors(args.queries, args.dim, rng, basis, popularity=False)
    start = time.perf_counter()
    truth = exact_top(queries, items, 10, args.batch)
    exact_qps = len(queries) / (time.perf_counter() - start)
    start = time.perf_counter()
    index = AnnIndex.build(items, AnnSettings(m=args.m, ef_construction=args.ef_construction))
    build_s = time.perf_counter() - start
    print(f"{args.items:,} items × {args.dim}-d, {len(queries):,} queries; HNSW m={args.m}, "
          f"ef_construction={args.ef_construction}, built in {build_s:.0f} s; exact "
          f"{exact_qps:,.0f} queries/s\n")
    print("| ef_search | recall@10 | ANN queries/s | speed-up vs exact |")
    print("| ---: | ---: | ---: | ---: |")
    for ef in args.ef_search:
        index.ef_search = ef
        start = time.perf_counter()
        found = np.concatenate([index.search(queries[s:s + args.batch], 10)
                                for s in range(0, len(queries), args.batch)])
        qps = len(queries) / (time.perf_counter() - start)
        recall = (truth[:, :, None] == found[:, None, :]).any(axis=2).mean()
        print(f"| {ef} | {recall:.3f} | {qps:,.0f} | {qps / exact_qps:.1f}× |")


if __name__ == "__main__":
    main()
