"""Surprise's rating models on the ML-100K canonical folds (run in the peers venv).

Usage: ``surprise_ratings.py DATA_DIR FOLD [FOLD …]`` — prints one JSON object to stdout:
``{system: [{"fold", "rmse", "mae", "fit_s"}, …]}``. Default parameters throughout, except a
fixed ``random_state=0`` for the stochastic SVD and SVD++ so reruns agree.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from surprise import SVD, BaselineOnly, Dataset, KNNBaseline, Reader, SVDpp, accuracy
from surprise.model_selection import PredefinedKFold

SYSTEMS = {
    "Surprise SVD": lambda: SVD(random_state=0),
    "Surprise SVD++": lambda: SVDpp(random_state=0, cache_ratings=True),
    "Surprise KNNBaseline": lambda: KNNBaseline(verbose=False),
    "Surprise BaselineOnly": lambda: BaselineOnly(verbose=False),
}


def main(data_dir: str, folds: list[int]) -> None:
    """Fit every system on each ``u{fold}.base`` and score it on ``u{fold}.test``."""
    path = Path(data_dir)
    files = [(str(path / f"u{k}.base"), str(path / f"u{k}.test")) for k in folds]
    data = Dataset.load_from_folds(files, reader=Reader("ml-100k"))
    results: dict[str, list[dict[str, float]]] = {name: [] for name in SYSTEMS}
    for fold, (train, test) in zip(folds, PredefinedKFold().split(data), strict=True):
        for name, make in SYSTEMS.items():
            algo = make()
            start = time.perf_counter()
            algo.fit(train)
            fit_s = time.perf_counter() - start
            predictions = algo.test(test)
            results[name].append({
                "fold": fold, "fit_s": fit_s,
                "rmse": accuracy.rmse(predictions, verbose=False),
                "mae": accuracy.mae(predictions, verbose=False),
            })
            print(f"{name} u{fold}: {results[name][-1]}", file=sys.stderr, flush=True)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1], [int(k) for k in sys.argv[2:]])
