"""On-disk size of saved models next to the dense item-item matrix they would otherwise hold.

For each data set (``ml-latest-small`` and ``ml-100k`` from ``--data-dir``, default
``$TRUSTREC_DATA_DIR`` or ``../shared/data``), as loaded by ``benchmarks/coldstart.py``
(rated items with their table; per-user random 80/20, seed 0), ``hybrid`` and ``ease``
are fitted with their defaults and saved; the table gives the artifact's size, the size of
a dense float32 n_items² matrix (the reference: what ``hybrid`` stored before it saved its
Woodbury factor), their ratio, and save / load seconds (load rebuilds B from the factor).
Loading is checked to give the fitted model's scores exactly.

    .venv/bin/python benchmarks/artifact_size.py [--datasets ml-latest-small]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from coldstart import default_data_dir, load
from trustrec.data.split import random_holdout
from trustrec.models import Recommender, create_model


def folder_mb(path: Path) -> float:
    """Total size of the files in ``path``, in MB (10⁶ bytes)."""
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file()) / 1e6


def measure(name: str, dataset: str, data_dir: Path) -> dict[str, object]:
    """Fit, save and reload ``name`` on ``dataset``: sizes and seconds."""
    train = random_holdout(load(data_dir, dataset), test_fraction=0.2, seed=0).train
    model = create_model(name).fit(train)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        path = model.save(Path(tmp) / name)
        save_s = time.perf_counter() - start
        start = time.perf_counter()
        loaded = Recommender.load(path)
        load_s = time.perf_counter() - start
        users = np.arange(min(200, train.n_users))
        exact = bool(np.array_equal(loaded.score(users), model.score(users)))
        size = folder_mb(path)
    dense = train.n_items ** 2 * 4 / 1e6
    return {"model": name, "data": dataset, "items": train.n_items, "disk_mb": size,
            "dense_b_mb": dense, "ratio": dense / size, "save_s": save_s, "load_s": load_s,
            "exact": exact}


def main(argv: list[str] | None = None) -> None:
    """Print the Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--datasets", nargs="+", default=["ml-latest-small", "ml-100k"])
    parser.add_argument("--models", nargs="+", default=["hybrid", "ease"])
    args = parser.parse_args(argv)
    print(f"load average at start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    print("| model | data | items | on disk MB | dense B MB | dense / disk | save s | "
          "load s | scores equal after load |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for dataset in args.datasets:
        for name in args.models:
            r = measure(name, dataset, args.data_dir)
            print(f"| {r['model']} | {r['data']} | {r['items']:,} | {r['disk_mb']:.1f} | "
                  f"{r['dense_b_mb']:.1f} | {r['ratio']:.1f}× | {r['save_s']:.2f} | "
                  f"{r['load_s']:.2f} | {'yes' if r['exact'] else 'NO'} |", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
