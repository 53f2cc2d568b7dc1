"""Peer side of the cold-start benchmark: LightFM WARP with item features ranks held-out items.

Run by ``benchmarks/coldstart.py`` in the *peers* virtual environment (LightFM 1.17, numpy
1.26), never by hand in the trustrec one; it imports no trustrec code and exchanges only
plain arrays and JSON (no pickle):

* in ``WORK/data.npz``: ``n_users``, ``n_items``, the item feature matrix as CSR parts
  (``features_data``, ``features_indices``, ``features_indptr``, ``n_features``; rows sum to
  1) and, per split ``NAME`` (``val``: a cold-item split of the training part, for tuning;
  ``test``: the benchmark's split), the training interactions ``NAME_user`` / ``NAME_item``,
  the users to rank ``NAME_users`` and the held-out items ``NAME_cold``;
* in ``WORK/jobs.json``: ``{"k", "threads", "seed", "jobs": [{"id", "split", "params",
  "epochs"}]}``, ``epochs`` a list of checkpoints;
* out ``WORK/ID-EPOCHS.npz``: ``lists`` (len(users) × k item indices, best first, over the
  held-out items only) after each checkpoint, and ``WORK/peers.json``: fit seconds per job
  and the LightFM version.

The model uses the item features only (no per-item identity feature): a held-out item has
no interactions, so an identity embedding of its own would never be trained.

    /root/.cache/trustrec-peers-venv/bin/python benchmarks/peers/coldstart_peers.py WORK
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import lightfm
import numpy as np
import scipy.sparse as sp
from lightfm import LightFM


def cold_lists(model: LightFM, features: sp.csr_matrix, users: np.ndarray, cold: np.ndarray,
               k: int, threads: int) -> np.ndarray:
    """Top-``k`` of the ``cold`` items for each of ``users`` (one batched ``predict``)."""
    pair_users = np.repeat(users, len(cold)).astype(np.int32)
    pair_items = np.tile(cold, len(users)).astype(np.int32)
    scores = model.predict(pair_users, pair_items, item_features=features,
                           num_threads=threads).reshape(len(users), len(cold))
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return cold[top].astype(np.int32)


def main() -> None:
    """Run every job of ``WORK/jobs.json``; write lists at each epoch checkpoint."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="folder with data.npz and jobs.json")
    work = parser.parse_args().work
    spec = json.loads((work / "jobs.json").read_text())
    k, threads, seed = int(spec["k"]), int(spec["threads"]), int(spec["seed"])
    with np.load(work / "data.npz", allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    shape = (int(arrays["n_users"]), int(arrays["n_items"]))
    features = sp.csr_matrix((arrays["features_data"], arrays["features_indices"],
                              arrays["features_indptr"]),
                             shape=(shape[1], int(arrays["n_features"])))
    timings = {}
    for job in spec["jobs"]:
        name = job["split"]
        x = sp.coo_matrix((np.ones(len(arrays[f"{name}_user"]), np.float32),
                           (arrays[f"{name}_user"], arrays[f"{name}_item"])), shape=shape)
        x.sum_duplicates()
        x.data[:] = 1.0
        model = LightFM(loss="warp", random_state=seed, **job["params"])
        done, fit_s = 0, 0.0
        for epochs in sorted(job["epochs"]):
            start = time.perf_counter()
            model.fit_partial(x, item_features=features, epochs=epochs - done,
                              num_threads=threads)
            fit_s += time.perf_counter() - start
            done = epochs
            lists = cold_lists(model, features, arrays[f"{name}_users"], arrays[f"{name}_cold"],
                               k, threads)
            np.savez(work / f"{job['id']}-{epochs}.npz", lists=lists)
            timings[f"{job['id']}-{epochs}"] = fit_s
            print(f"  peer LightFM {job['params']} on {name}, {epochs} epochs: fit "
                  f"{fit_s:.1f} s", file=sys.stderr, flush=True)
    (work / "peers.json").write_text(json.dumps({"fit_s": timings,
                                                 "lightfm": lightfm.__version__}, indent=1))


if __name__ == "__main__":
    main()
