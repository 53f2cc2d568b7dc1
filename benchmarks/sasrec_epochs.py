"""Epoch speed of ``sasrec``: the chunked full-softmax loss against the plain one.

The same fit (defaults, the benchmark's data: ml-latest-small next-item training part,
seed 0) is timed with the loss sasrec uses (:func:`trustrec.models.softmax_loss.
softmax_cross_entropy`, chunked) and with the reference it replaced,
``F.cross_entropy(hidden @ items.T, targets)``, which builds the whole (targets × items)
logit matrix. Both give the same loss and gradients, so the runs follow the same path
(compare the losses printed). The two alternate ``--rounds`` times, each for ``--epochs``
epochs, so that they share the machine's load; the table shows the median epoch time (the
training pass; the validation pass after it is timed separately) and epochs per second.

Reproduce:

    nice .venv/bin/python -m benchmarks.sasrec_epochs
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.topn import default_data_dir, load_interactions
from trustrec.data.split import leave_last_n
from trustrec.models import create_model


def plain_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor,
                        targets: torch.Tensor) -> torch.Tensor:
    """The reference: the full logit matrix, then ``F.cross_entropy``."""
    return F.cross_entropy(hidden @ weight.T, targets)


def timed_fit(train: Any, epochs: int, params: dict[str, Any]) -> dict[str, Any]:
    """Fit sasrec for ``epochs`` epochs; its epoch times, losses and the whole fit's time."""
    start = time.perf_counter()
    model = create_model("sasrec", {**params, "epochs": epochs, "patience": epochs},
                         seed=0).fit(train)
    log = model.training_
    return {"epoch_s": log["epoch_seconds"], "loss": log["train_loss"],
            "fit_s": time.perf_counter() - start}


def main() -> None:
    """Alternate the two losses, then print the table with the machine load."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--dataset", default="ml-latest-small")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per timed fit")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--param", action="append", default=[],
                        help="KEY=VALUE for sasrec (repeatable)")
    args = parser.parse_args()
    params = dict(p.split("=", 1) for p in args.param)
    train = leave_last_n(load_interactions(args.data_dir, args.dataset), n=1,
                         validation_n=1).train
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {"chunked (sasrec)": [], "plain (reference)": []}
    for _ in range(args.rounds):
        runs["chunked (sasrec)"].append(timed_fit(train, args.epochs, params))
        with mock.patch("trustrec.models.sasrec.softmax_cross_entropy", plain_cross_entropy):
            runs["plain (reference)"].append(timed_fit(train, args.epochs, params))
    load_after = os.getloadavg()
    print(f"\n**sasrec epoch speed, {args.dataset} next-item training part "
          f"({len(train):,} interactions, {train.n_items:,} items), "
          f"threads={torch.get_num_threads()}**\n")
    print("| loss | epoch s (median) | epochs/s | speed-up | fit s per epoch (with "
          "validation, start-up) | first-epoch loss |")
    print("|---|---|---|---|---|---|")
    reference = float(np.median([s for r in runs["plain (reference)"] for s in r["epoch_s"]]))
    for name, rs in runs.items():
        epoch_s = float(np.median([s for r in rs for s in r["epoch_s"]]))
        per_epoch = float(np.median([r["fit_s"] / len(r["epoch_s"]) for r in rs]))
        print(f"| {name} | {epoch_s:.2f} | {1 / epoch_s:.3f} | {reference / epoch_s:.2f}× | "
              f"{per_epoch:.2f} | {rs[0]['loss'][0]:.5f} |")
    print(f"\nload average (1, 5, 15 min) before: {', '.join(f'{x:.1f}' for x in load_before)}"
          f"; after: {', '.join(f'{x:.1f}' for x in load_after)}; {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
