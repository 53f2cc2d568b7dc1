"""Rating-prediction benchmark: trustrec ``mf`` and ``baseline`` against Surprise on ML-100K.

Protocol (identical for every system): the five canonical folds ``u1..u5.base/.test`` of
ML-100K; each system is fitted on ``u{k}.base`` with its default parameters and predicts
every rating of ``u{k}.test``; RMSE and MAE are averaged over the folds (predictions
clipped to 1–5 by each system). ``fit s/fold`` is the mean wall time of ``fit`` alone.
trustrec's numba kernels are compiled before the timed fits; the first fit including the
compilation is timed separately and printed under the table.

Surprise (SVD, SVD++ with ``cache_ratings=True``, KNNBaseline, BaselineOnly; ``random_state=0``
for the stochastic ones) runs in the peers virtual environment through
``benchmarks/peers/surprise_ratings.py``, which reads the same fold files.

Reproduce:

    .venv/bin/python benchmarks/rating_ml100k.py --json rating_ml100k.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from trustrec.data import Dataset
from trustrec.data.movielens import load_ml100k_folds
from trustrec.evaluation.metrics import mae, rmse
from trustrec.models import create_model

ROOT = Path(__file__).resolve().parents[1]
PEERS_SCRIPT = ROOT / "benchmarks" / "peers" / "surprise_ratings.py"
PEERS_PYTHON = "/root/.cache/trustrec-peers-venv/bin/python"
TRUSTREC_SYSTEMS = {"trustrec mf": "mf", "trustrec baseline": "baseline"}

FoldResult = dict[str, float]


def default_data_dir() -> Path:
    """``$TRUSTREC_DATA_DIR/ml-100k`` or ``../shared/data/ml-100k`` beside the repository."""
    base = os.environ.get("TRUSTREC_DATA_DIR") or ROOT.parent / "shared" / "data"
    return Path(base) / "ml-100k"


def fit_and_score(model_name: str, train: Dataset, test: Dataset) -> FoldResult:
    """Fit a default ``model_name`` on ``train`` and score its rating predictions on ``test``."""
    model = create_model(model_name, seed=0)
    start = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - start
    pred = model.predict(test.user, test.item)
    return {"fit_s": fit_s, "rmse": rmse(pred, test.value), "mae": mae(pred, test.value)}


def run_trustrec(data_dir: Path, folds: list[int]) -> tuple[dict[str, list[FoldResult]], float]:
    """Per-fold results of trustrec's systems, and the first ``mf`` fit's time with JIT."""
    splits = load_ml100k_folds(data_dir)
    first = splits[folds[0] - 1]
    jit_fit_s = fit_and_score("mf", first.train, first.test)["fit_s"]  # compiles the kernels
    results: dict[str, list[FoldResult]] = {}
    for system, model_name in TRUSTREC_SYSTEMS.items():
        results[system] = []
        for k in folds:
            row = fit_and_score(model_name, splits[k - 1].train, splits[k - 1].test)
            results[system].append({"fold": k, **row})
            print(f"{system} u{k}: {row}", file=sys.stderr, flush=True)
    return results, jit_fit_s


def run_peers(python: str, data_dir: Path, folds: list[int]) -> dict[str, list[FoldResult]]:
    """Per-fold results of the Surprise systems, from the peers venv."""
    out = subprocess.run([python, str(PEERS_SCRIPT), str(data_dir), *map(str, folds)],
                         check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(out.stdout)


def summarise(results: dict[str, list[FoldResult]]) -> dict[str, dict[str, float]]:
    """Mean RMSE, MAE and fit time per system."""
    return {system: {key: float(np.mean([r[key] for r in rows]))
                     for key in ("rmse", "mae", "fit_s")}
            for system, rows in results.items()}


def markdown_table(summary: dict[str, dict[str, float]]) -> str:
    """One Markdown table, best RMSE first."""
    lines = ["| system | RMSE | MAE | fit s/fold |", "| --- | ---: | ---: | ---: |"]
    for system, row in sorted(summary.items(), key=lambda kv: kv[1]["rmse"]):
        lines.append(f"| {system} | {row['rmse']:.4f} | {row['mae']:.4f} | {row['fit_s']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the table and optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_dir(),
                        help="ML-100K folder with u1..u5.base/.test")
    parser.add_argument("--folds", type=int, nargs="+", default=[1, 2, 3, 4, 5],
                        choices=range(1, 6))
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--peers-python", default=os.environ.get("TRUSTREC_PEERS_PYTHON",
                                                                 PEERS_PYTHON))
    parser.add_argument("--no-peers", action="store_true", help="trustrec's systems only")
    args = parser.parse_args(argv)

    per_fold, jit_fit_s = run_trustrec(args.data, args.folds)
    if not args.no_peers:
        per_fold.update(run_peers(args.peers_python, args.data, args.folds))
    summary = summarise(per_fold)
    folds = ", ".join(f"u{k}" for k in args.folds)
    print(f"ML-100K folds {folds} (mean over folds; wall-clock seconds, noisy on a shared "
          "machine)\n")
    print(markdown_table(summary))
    print(f"\ntrustrec mf: first fit including numba JIT compilation {jit_fit_s:.2f} s "
          f"(u{args.folds[0]}); the table's fits are after compilation.")
    result = {"dataset": "ml-100k", "folds": args.folds, "summary": summary,
              "per_fold": per_fold, "mf_first_fit_with_jit_s": jit_fit_s}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
