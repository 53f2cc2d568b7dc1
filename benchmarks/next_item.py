"""Next-item benchmark: ``sasrec`` and ``ncf`` against ``ease``, ``itemknn``, ``popularity``.

Protocols (every rating is an implicit interaction; users with ≥ 5 ratings; see
``benchmarks/topn.py`` for the data loading shared with the top-N benchmark):

* **next-item**: leave-last-one-out by timestamp (:func:`trustrec.data.split.leave_last_n`,
  ``n=1, validation_n=1``): each user's latest interaction is the test item, the one before
  it the validation item. ``ease`` (``l2``) and ``itemknn`` (``k``) pick their setting by
  validation NDCG@10 (fitted without the validation items), then are refitted with them.
  ``sasrec`` and ``ncf`` stop early on their own validation data carved from the training
  part (sasrec: the latest training item — the second-to-last overall — of a share of the
  users; ncf: a random 10 % per user). Primary metrics: HR@10 and NDCG@10 by
  :func:`~trustrec.evaluation.evaluate_ranking` — **full ranking over all items**, training
  items excluded. Secondary, labelled *optimistic*: the same models ranked against 100
  sampled negatives (:func:`~trustrec.evaluation.protocol.evaluate_sampled`).
* **random 80/20** (the top-N benchmark's protocol, ``benchmarks/topn.py``): ``ncf``
  against ``ease`` (``l2`` tuned on the validation part), NDCG@10 and Recall@10.

Each (protocol, dataset, model) runs in a fresh subprocess, so ``peak MB`` is that run's
peak resident memory (``ru_maxrss``; data loading included, shown separately as
``data MB``). ``epoch s`` is the mean time of a training epoch (torch models), ``rec s /
1k users`` the time of ``recommend(users, 10)`` per 1,000 test users, ``load`` the
machine's 1-minute load average at the start and the end of the run. Torch runs with
one CPU thread (the models' default). Timings on a shared machine are noisy.

Reproduce (``--max-seconds`` caps each neural fit; ``--datasets`` / ``--models`` select;
``--on-validation`` scores the validation items instead of test, for choosing settings —
``ease`` and ``itemknn`` are then tuned on the very items they are scored on, an
optimistic reference):

    nice .venv/bin/python -m benchmarks.next_item --json next_item.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.topn import default_data_dir, load_interactions, protocol_split
from trustrec.data import Dataset
from trustrec.data.split import leave_last_n
from trustrec.evaluation import evaluate_ranking
from trustrec.evaluation.protocol import evaluate_sampled
from trustrec.models import Recommender, create_model

K = 10
SEED = 0
DATASETS = ("ml-latest-small", "ml-100k")
NEXT_MODELS = ("popularity", "itemknn", "ease", "ncf", "sasrec")
RANDOM_MODELS = ("ease", "ncf")
#: Settings tried on the validation items (first one wins ties).
GRIDS: dict[str, list[dict[str, Any]]] = {
    "ease": [{"l2": 10.0}, {"l2": 30.0}, {"l2": 100.0}, {"l2": 300.0}, {"l2": 1000.0}],
    "itemknn": [{"k": 50}, {"k": 200}, {"k": 1000}],
}
#: Fixed settings of the neural models (they tune their epoch count by early stopping).
NEURAL: dict[str, dict[str, Any]] = {
    "sasrec": {},
    "ncf": {},
}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _tuned(name: str, fit: Dataset, validation: Dataset) -> dict[str, Any]:
    """The grid setting with the best validation NDCG@10 (fitted on ``fit``)."""
    grid = GRIDS.get(name)
    if not grid:
        return {}
    scores = []
    for params in grid:
        model = create_model(name, params, seed=SEED).fit(fit)
        res = evaluate_ranking(model, fit, validation, k=K, n_boot=1)
        scores.append(res.metrics[f"ndcg@{K}"])
    return grid[int(np.argmax(scores))]


def _timings(model: Recommender, test: Dataset, fit_s: float) -> dict[str, Any]:
    users = np.unique(test.user)
    start = time.perf_counter()
    model.recommend(users, k=K)
    rec_s = time.perf_counter() - start
    log = getattr(model, "training_", {}) or {}
    epochs = log.get("epoch_seconds") or []
    return {"fit_s": fit_s, "epochs": len(epochs), "best_epoch": log.get("best_epoch"),
            "best_validation": max(log.get("validation") or [float("nan")]),
            "stopped": log.get("stopped"),
            "epoch_s": float(np.mean(epochs)) if epochs else None,
            "rec_s_per_1k": rec_s * 1000.0 / max(1, len(users))}


def run_one(protocol: str, dataset: str, name: str, data_dir: Path, max_seconds: float,
            extra: dict[str, Any] | None = None, on_validation: bool = False) -> dict[str, Any]:
    """One (protocol, dataset, model) cell: tune, fit, evaluate, time (``extra``: more
    settings for a neural model; ``on_validation``: fit without the validation items and
    score those instead of the test items, to choose settings without touching test)."""
    load_start = os.getloadavg()[0]
    data = load_interactions(data_dir, dataset)
    if protocol == "next-item":
        split = leave_last_n(data, n=1, validation_n=1)
        assert split.validation is not None
        fit, validation, test = split.train, split.validation, split.test
        train = fit.with_interactions(
            np.r_[fit.user, validation.user], np.r_[fit.item, validation.item],
            np.r_[fit.value, validation.value], np.r_[fit.timestamp, validation.timestamp])
    else:
        parts = protocol_split(data, seed=SEED)
        fit, validation, train, test = parts.fit, parts.validation, parts.train, parts.test
    if on_validation:
        train, test = fit, validation
    data_mb = _rss_mb()
    params = dict(NEURAL.get(name, {}))
    if name in NEURAL:
        params.update(extra or {}, max_seconds=max_seconds)
    else:
        params.update(_tuned(name, fit, validation))
    start = time.perf_counter()
    model = create_model(name, params, seed=SEED).fit(train)
    fit_s = time.perf_counter() - start
    full = evaluate_ranking(model, train, test, k=K, n_boot=200, seed=SEED)
    out: dict[str, Any] = {
        "protocol": protocol, "dataset": dataset, "model": name, "params": params,
        "scored_on": "validation" if on_validation else "test",
        "ndcg@10": full.metrics[f"ndcg@{K}"], "hr@10": full.metrics[f"hit_rate@{K}"],
        "recall@10": full.metrics[f"recall@{K}"],
        "ndcg_ci": full.intervals[f"ndcg@{K}"],
        **_timings(model, test, fit_s), "data_mb": data_mb, "peak_mb": _rss_mb(),
        "load": (load_start, os.getloadavg()[0]),
    }
    if protocol == "next-item":
        sampled = evaluate_sampled(model, train, test, k=K, n_negatives=100, seed=SEED,
                                   n_boot=1)
        out["sampled_ndcg@10"] = sampled.metrics[f"sampled_ndcg@{K}"]
        out["sampled_hr@10"] = sampled.metrics[f"sampled_hit_rate@{K}"]
    return out


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _load(row: dict[str, Any]) -> str:
    """The 1-minute load average at the start and the end of the row's run."""
    return "{:.1f}–{:.1f}".format(*row["load"]) if "load" in row else "–"


def _on(rows: list[dict[str, Any]]) -> str:
    """A heading's note when the rows were scored on the validation items."""
    return "; scored on the validation items" if rows[0].get("scored_on") == "validation" else ""


def tables(rows: list[dict[str, Any]]) -> str:
    """The Markdown tables of the collected rows."""
    lines = []
    for dataset in DATASETS:
        sel = [r for r in rows if r["dataset"] == dataset and r["protocol"] == "next-item"]
        if sel:
            lines += [f"\n**{dataset}, next item (leave-last-one-out, full ranking"
                      f"{_on(sel)})**\n",
                      "| model | HR@10 | NDCG@10 | NDCG@10 95% CI | sampled-100 HR@10 "
                      "(optimistic) | sampled-100 NDCG@10 (optimistic) | fit s | epochs "
                      "(best) | epoch s | peak MB (data) | rec s / 1k users | load |",
                      "|---|---|---|---|---|---|---|---|---|---|---|---|"]
            for r in sel:
                lo, hi = r["ndcg_ci"]
                epochs = f"{r['epochs']} ({r['best_epoch']})" if r["epochs"] else "–"
                lines.append(
                    f"| {r['model']} | {_fmt(r['hr@10'])} | {_fmt(r['ndcg@10'])} | "
                    f"{lo:.4f}–{hi:.4f} | {_fmt(r.get('sampled_hr@10'))} | "
                    f"{_fmt(r.get('sampled_ndcg@10'))} | {_fmt(r['fit_s'], 1)} | {epochs} | "
                    f"{_fmt(r['epoch_s'], 2)} | {r['peak_mb']:.0f} ({r['data_mb']:.0f}) | "
                    f"{_fmt(r['rec_s_per_1k'], 3)} | {_load(r)} |")
        sel = [r for r in rows if r["dataset"] == dataset and r["protocol"] == "random"]
        if sel:
            lines += [f"\n**{dataset}, random 80/20 per user (full ranking{_on(sel)})**\n",
                      "| model | NDCG@10 | Recall@10 | fit s | epochs (best) | epoch s | "
                      "peak MB (data) |", "|---|---|---|---|---|---|---|"]
            for r in sel:
                epochs = f"{r['epochs']} ({r['best_epoch']})" if r["epochs"] else "–"
                lines.append(f"| {r['model']} | {_fmt(r['ndcg@10'])} | "
                             f"{_fmt(r['recall@10'])} | {_fmt(r['fit_s'], 1)} | {epochs} | "
                             f"{_fmt(r['epoch_s'], 2)} | {r['peak_mb']:.0f} "
                             f"({r['data_mb']:.0f}) |")
    return "\n".join(lines)


def main() -> None:
    """Run every selected cell in its own subprocess and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--models", nargs="+", default=list(NEXT_MODELS))
    parser.add_argument("--protocols", nargs="+", default=["next-item", "random"])
    parser.add_argument("--max-seconds", type=float, default=900.0,
                        help="time budget of each neural fit")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    parser.add_argument("--param", action="append", default=[],
                        help="KEY=VALUE for the neural models (repeatable)")
    parser.add_argument("--on-validation", action="store_true",
                        help="fit without the validation items and score those (not test)")
    parser.add_argument("--one", nargs=3, metavar=("PROTOCOL", "DATASET", "MODEL"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        extra = dict(p.split("=", 1) for p in args.param)
        print(json.dumps(run_one(*args.one, args.data_dir, args.max_seconds, extra,
                                 args.on_validation)))
        return
    rows = []
    for protocol in args.protocols:
        models = NEXT_MODELS if protocol == "next-item" else RANDOM_MODELS
        for dataset in args.datasets:
            for name in [m for m in models if m in args.models]:
                cmd = [sys.executable, "-m", "benchmarks.next_item", "--data-dir",
                       str(args.data_dir), "--max-seconds", str(args.max_seconds), "--one",
                       protocol, dataset, name, *(f"--param={p}" for p in args.param),
                       *(["--on-validation"] if args.on_validation else [])]
                done = subprocess.run(cmd, capture_output=True, text=True, check=False,
                                      cwd=Path(__file__).resolve().parents[1])
                if done.returncode != 0:
                    print(f"{protocol}/{dataset}/{name} failed:\n{done.stderr[-2000:]}",
                          file=sys.stderr)
                    continue
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(f"done {protocol}/{dataset}/{name}", file=sys.stderr, flush=True)
    print(tables(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
