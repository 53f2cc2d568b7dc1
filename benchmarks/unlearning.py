"""Unlearning benchmark: ``forget_users`` against retraining without the users, same run.

For each model configuration and each number of forgotten users (1 and 50 by default),
``--repeats`` times: draw that many users at random (seeded), time ``forget_users`` from
the fitted model (everything it does: ID lookup, the stored training data, the model's
down-date or a refit) and, right after it, a retrain (a fresh model's ``fit`` on the
remaining data). Prints the medians, their ratio (speed-up), the method ``forget_users``
chose, and the largest score difference to the retrain over all remaining users and items.

References in the same run, since a float32 model agrees with another float32 model only
to its rounding: for EASE, the largest difference of the forgotten model and of the
retrain to a float64 EASE of the remaining data (``vs float64``); for ALS's approximate
path (``exact=False``), the difference between two retrains with different seeds and the
difference of the unforgotten model to the retrain (what doing nothing would leave).
The machine's load (1-minute average) is printed before and after.

Usage: ``python -m benchmarks.unlearning --data ../shared/data/ml-100k``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from trustrec.data.dataset import Dataset
from trustrec.data.movielens import load_movielens
from trustrec.models import Recommender, create_model
from trustrec.models.ease import column_squares, penalty
from trustrec.privacy.unlearning import forget_users, without_users

#: (label, model, parameters, exact) per row group.
CONFIGS: list[tuple[str, str, dict[str, Any], bool]] = [
    ("ease (EASE, dropout 0)", "ease", {"dropout": 0.0}, True),
    ("ease (default: EDLAE, dropout 0.2)", "ease", {}, True),
    ("itemknn (cosine)", "itemknn", {"similarity": "cosine"}, True),
    ("itemknn (default: bm25, b 0.25)", "itemknn", {}, True),
    ("als (default, exact)", "als", {}, True),
    ("als (exact=False)", "als", {}, False),
]


def load() -> str:
    """The 1-minute load average and the CPU count, for the table's caption."""
    return f"{os.getloadavg()[0]:.2f} (1-min average, {os.cpu_count()} CPUs)"


def float64_ease_scores(x: sp.csr_matrix, params: dict[str, Any]) -> np.ndarray:
    """EASE/EDLAE scores ``X B`` in float64, without forming B: with ``P = (XᵀX + Λ)⁻¹``,
    ``X B = X − X P diag(1/diag P)``; ``X P`` through the user-space Woodbury identity
    ``P = Λ⁻¹ − Λ⁻¹Xᵀ(I + XΛ⁻¹Xᵀ)⁻¹XΛ⁻¹`` when users are fewer than items."""
    cfg = create_model("ease", params).config
    x = x.astype(np.float64)
    lam = penalty(column_squares(x), cfg.l2, cfg.dropout)
    if x.shape[0] < x.shape[1]:
        y = (x @ sp.diags(1.0 / lam)).toarray()
        solved = np.linalg.solve(np.eye(x.shape[0]) + y @ x.T.toarray(), y)
        xp = y - (x @ y.T) @ solved
        p_diag = 1.0 / lam - np.einsum("ij,ij->j", y, solved)
    else:
        a = (x.T @ x).toarray()
        a[np.diag_indices_from(a)] += lam
        p = np.linalg.inv(a)
        xp, p_diag = x @ p, np.diag(p)
    return x.toarray() - xp / p_diag


def row(label: str, name: str, params: dict[str, Any], exact: bool, ds: Dataset,
        n_users: int, repeats: int, seed: int) -> str:
    """One table row: ``repeats`` forgets of ``n_users`` random users against retrains."""
    model = create_model(name, params, seed=0).fit(ds)
    rng = np.random.default_rng(seed)
    forget_s, retrain_s, diffs, methods, refs = [], [], [], set(), []
    for _ in range(repeats):
        users = np.sort(rng.choice(ds.n_users, n_users, replace=False))
        start = time.perf_counter()
        new, report = forget_users(model, ds.user_index.ids[users], exact=exact)
        forget_s.append(time.perf_counter() - start)
        rest = without_users(ds, users)
        start = time.perf_counter()
        retrained = create_model(name, params, seed=0).fit(rest)
        retrain_s.append(time.perf_counter() - start)
        everyone = np.arange(new.n_users_)
        got, want = new.score(everyone), retrained.score(everyone)
        diffs.append(float(np.abs(got - want).max()))
        methods.add(report.method)
        refs.append(reference(name, params, exact, model, users, rest, got, want))
    forget, retrain = float(np.median(forget_s)), float(np.median(retrain_s))
    return (f"| {label} | {n_users} | {', '.join(sorted(methods))} | {forget:.3f} | "
            f"{retrain:.3f} | {retrain / forget:.1f}× | {max(diffs):.1e} | {refs[-1]} |")


def reference(name: str, params: dict[str, Any], exact: bool, model: Recommender,
              users: np.ndarray, rest: Dataset, got: np.ndarray, want: np.ndarray) -> str:
    """The row's same-run reference for its score difference (see the module docstring)."""
    if name == "ease":
        exact64 = float64_ease_scores(rest.csr.astype(bool).astype(np.float64), params)
        return (f"vs float64: forgotten {np.abs(got - exact64).max():.1e}, "
                f"retrain {np.abs(want - exact64).max():.1e}")
    if name == "als" and not exact:
        other = create_model(name, params, seed=1).fit(rest)
        kept = np.setdiff1d(np.arange(model.n_users_), users)
        seeds = np.abs(other.score(np.arange(other.n_users_)) - want).max()
        return (f"retrain seed 0 vs seed 1 {seeds:.1e}; unforgotten model vs retrain "
                f"{np.abs(model.score(kept) - want).max():.1e}")
    return "–"


def uptime() -> str:
    """``uptime``'s line (load averages over 1, 5 and 15 minutes)."""
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main() -> None:
    """Parse arguments and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--users", default="1,50", help="forget sizes, comma-separated")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default="", help="labels' model names to keep (all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ds = load_movielens(args.data).dataset
    keep = set(args.models.split(",")) if args.models else None
    print(f"# unlearning on {ds.name}: {len(ds):,} interactions, {ds.n_users:,} users, "
          f"{ds.n_items:,} items; median of {args.repeats}\n")
    print(f"load before: {load()}; {uptime()}\n")
    print("| model | users forgotten | method | forget s | retrain s | speed-up | "
          "max score diff vs retrain | reference (same run) |")
    print("|---|---|---|---|---|---|---|---|")
    for label, name, params, exact in CONFIGS:
        if keep is not None and name not in keep:
            continue
        for n_users in (int(n) for n in args.users.split(",")):
            print(row(label, name, params, exact, ds, n_users, args.repeats, args.seed),
                  flush=True)
    print(f"\nload after: {load()}; {uptime()}")


if __name__ == "__main__":
    main()
