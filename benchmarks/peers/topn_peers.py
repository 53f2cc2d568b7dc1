"""Peer side of the top-N benchmark: fits implicit and LightFM models, writes their top-k lists.

Run by ``benchmarks/topn.py`` in the *peers* virtual environment (implicit 0.7, LightFM 1.17,
numpy 1.26), never by hand in the trustrec one; it imports no trustrec code. Everything it
exchanges is plain arrays and JSON, no pickle:

* in ``WORK/data.npz``: ``n_users``, ``n_items`` and, per training matrix ``NAME``
  (``fit``: the inner-train part used for tuning, ``train``: the whole training part),
  the interaction index arrays ``NAME_user`` / ``NAME_item``. Held-out data never come here.
* in ``WORK/jobs.json``: ``{"k", "threads", "seed", "repeat", "jobs": [{"id", "system",
  "params", "train", "timed"}]}``.
* out ``WORK/ID.npz``: ``lists`` (n_users × k int32, best first, -1 where a user has no list)
  for each job, and ``WORK/peers.json``: fit and recommend-all seconds per job id (the
  latter also by thread count) plus the library versions and BLAS/OpenMP thread pools.

Seen items are excluded from every list. Recommend-all uses each library's own API the way
its documentation shows: implicit's batched ``recommend(userids, user_items, N)``; LightFM's
``predict(user, item_ids)`` once per user, then the seen-item mask and a top-k selection.
For ``timed`` jobs its time is the best of ``repeat`` runs, LightFM's also the best of
``num_threads`` 1 and ``threads``, since its OpenMP start-up per ``predict`` call makes one
thread the faster choice for one user's items on a busy machine; other (tuning) jobs make
their lists once.

    /root/.cache/trustrec-peers-venv/bin/python benchmarks/peers/topn_peers.py WORK
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import implicit
import lightfm
import numpy as np
import scipy.sparse as sp
import threadpoolctl
from implicit.als import AlternatingLeastSquares
from implicit.bpr import BayesianPersonalizedRanking
from implicit.nearest_neighbours import BM25Recommender, CosineRecommender
from lightfm import LightFM

PAD = -1


def implicit_lists(model: Any, x: sp.csr_matrix, users: np.ndarray, k: int) -> np.ndarray:
    """Top-``k`` unseen items of ``users`` from implicit's batched ``recommend``."""
    ids, _ = model.recommend(users, x[users], N=k, filter_already_liked_items=True)
    return np.asarray(ids, dtype=np.int32)


def lightfm_lists(model: LightFM, x: sp.csr_matrix, users: np.ndarray, k: int,
                  threads: int) -> np.ndarray:
    """Top-``k`` unseen items of ``users``: LightFM's ``predict`` over all items, per user."""
    all_items = np.arange(x.shape[1], dtype=np.int32)
    out = np.full((len(users), k), PAD, dtype=np.int32)
    for row, user in enumerate(users.tolist()):
        scores = model.predict(user, all_items, num_threads=threads)
        scores[x.indices[x.indptr[user]:x.indptr[user + 1]]] = -np.inf
        top = np.argpartition(-scores, k)[:k]
        out[row] = top[np.argsort(-scores[top], kind="stable")]
    return out


def build_implicit(system: str, params: dict[str, Any], threads: int, seed: int) -> Any:
    """An unfitted implicit model for ``system`` with ``params``."""
    if system == "implicit-als":
        return AlternatingLeastSquares(**params, num_threads=threads, random_state=seed,
                                       use_gpu=False)
    if system == "implicit-bpr":
        return BayesianPersonalizedRanking(**params, num_threads=threads, random_state=seed,
                                           use_gpu=False)
    params = dict(params)
    kind = params.pop("similarity")
    cls = {"cosine": CosineRecommender, "bm25": BM25Recommender}[kind]
    return cls(**params, num_threads=threads)


def best_time(make_lists: Callable[[], np.ndarray], repeat: int) -> tuple[np.ndarray, float]:
    """The lists ``make_lists`` returns and the fastest of ``repeat`` calls, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        lists = make_lists()
        best = min(best, time.perf_counter() - start)
    return lists, best


def run_implicit(system: str, params: dict[str, Any], x: sp.csr_matrix, users: np.ndarray,
                 k: int, threads: int, seed: int,
                 repeat: int | None) -> tuple[np.ndarray, float, dict[int, float]]:
    """Fit an implicit model on ``x``; its lists, fit seconds and recommend-all seconds
    (by thread count)."""
    model = build_implicit(system, params, threads, seed)
    start = time.perf_counter()
    model.fit(x, show_progress=False)
    fit_s = time.perf_counter() - start
    lists, rec_s = best_time(lambda: implicit_lists(model, x, users, k), repeat or 1)
    return lists, fit_s, {threads: rec_s}


def run_lightfm(system: str, params: dict[str, Any], x: sp.csr_matrix, users: np.ndarray,
                k: int, threads: int, seed: int,
                repeat: int | None) -> tuple[np.ndarray, float, dict[int, float]]:
    """Fit LightFM (WARP) on ``x``; its lists, fit seconds and recommend-all seconds by
    ``predict`` thread count (only one thread when ``repeat`` is None: tuning)."""
    params = dict(params)
    epochs = int(params.pop("epochs"))
    model = LightFM(loss="warp", random_state=seed, **params)
    start = time.perf_counter()
    model.fit(x.tocoo(), epochs=epochs, num_threads=threads)
    fit_s = time.perf_counter() - start
    by_threads = {}
    for n in sorted({1, threads}) if repeat else [1]:
        lists, by_threads[n] = best_time(lambda n=n: lightfm_lists(model, x, users, k, n),
                                         repeat or 1)
    return lists, fit_s, by_threads


RUNNERS: dict[str, Callable[..., tuple[np.ndarray, float, dict[int, float]]]] = {
    "implicit-als": run_implicit,
    "implicit-bpr": run_implicit,
    "implicit-itemknn": run_implicit,
    "lightfm-warp": run_lightfm,
}


def load_matrices(path: Path) -> dict[str, sp.csr_matrix]:
    """The binary users × items CSR training matrices stored in ``data.npz``."""
    with np.load(path, allow_pickle=False) as data:
        shape = (int(data["n_users"]), int(data["n_items"]))
        names = [key.removesuffix("_user") for key in data.files if key.endswith("_user")]
        out = {}
        for name in names:
            user, item = data[f"{name}_user"], data[f"{name}_item"]
            x = sp.csr_matrix((np.ones(len(user), np.float32), (user, item)), shape=shape)
            x.sum_duplicates()
            x.data[:] = 1.0
            x.sort_indices()
            out[name] = x
    return out


def environment() -> dict[str, Any]:
    """Library versions and the thread pools (BLAS, OpenMP) this process runs with."""
    pools = [{key: api.get(key) for key in ("user_api", "internal_api", "num_threads",
                                              "version")}
             for api in threadpoolctl.threadpool_info()]
    return {"python": sys.version.split()[0], "numpy": np.__version__,
            "implicit": implicit.__version__, "lightfm": lightfm.__version__,
            "thread_pools": pools}


def main() -> None:
    """Run every job of ``WORK/jobs.json`` and write its lists and timings to ``WORK``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="folder with data.npz and jobs.json")
    work = parser.parse_args().work
    spec = json.loads((work / "jobs.json").read_text())
    matrices = load_matrices(work / "data.npz")
    k, threads, seed = int(spec["k"]), int(spec["threads"]), int(spec["seed"])
    repeat = int(spec["repeat"])
    timings: dict[str, dict[str, Any]] = {}
    for job in spec["jobs"]:
        x = matrices[job["train"]]
        users = np.flatnonzero(np.diff(x.indptr)).astype(np.int32)
        lists, fit_s, by_threads = RUNNERS[job["system"]](
            job["system"], job["params"], x, users, k, threads, seed,
            repeat if job["timed"] else None)
        full = np.full((x.shape[0], k), PAD, dtype=np.int32)
        full[users] = lists
        np.savez(work / f"{job['id']}.npz", lists=full)
        timings[job["id"]] = {"fit_s": fit_s, "recommend_s": min(by_threads.values()),
                              "recommend_s_by_threads": by_threads}
        shown = ", ".join(f"{t:.2f} s ({n} threads)" for n, t in by_threads.items())
        print(f"  peer {job['system']} {job['params']} on {job['train']}: fit {fit_s:.1f} s, "
              f"recommend-all {shown}", file=sys.stderr, flush=True)
    (work / "peers.json").write_text(json.dumps({"timings": timings,
                                                 "environment": environment()}, indent=1))


if __name__ == "__main__":
    main()
