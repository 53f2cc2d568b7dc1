"""Demo section of the sequential models: next-item prediction, ``sasrec`` against ``ease``.

:func:`demo_sequence` runs the next-item protocol (:func:`trustrec.experiment.next_item`
on :func:`trustrec.data.split.next_item_split`: each user's latest interaction held out,
all items ranked, HR@10 and NDCG@10 with bootstrap intervals) in a small, time-capped
version on the demo data and adds ``sasrec``'s validation curve.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt

from trustrec.data.dataset import Dataset
from trustrec.data.split import next_item_split
from trustrec.experiment import next_item
from trustrec.report.html import Section

K = 10
#: A small sasrec for the demo: a time budget keeps the section within ~20 s on 2 cores.
DEMO_SASREC: dict[str, Any] = {"dim": 32, "max_len": 30, "epochs": 30, "batch_size": 128,
                               "max_seconds": 8.0}
#: Fewer epochs than this in the demo's budget make its sasrec row a smoke run (said so) and
#: its validation curve too short to plot.
SMOKE_EPOCHS = 3


def demo_sequence(dataset: Dataset, seed: int = 0) -> Section:
    """Next-item section: a small ``sasrec`` against ``ease`` and ``popularity`` on
    ``dataset`` (e.g. ``synthetic.generate(seed=0)``), with sasrec's validation curve."""
    section = Section("Sequential recommendation (next item)")
    if dataset.timestamp is None:
        return section.text("Skipped: the data has no timestamps, so there is no order of "
                            "events to learn from.")
    split = next_item_split(dataset)
    runs = next_item(split, {"popularity": ("popularity", {}), "ease": ("ease", {}),
                             "sasrec": ("sasrec", DEMO_SASREC)}, seed=seed)
    log = getattr(runs[-1].model, "training_", {})
    n_epochs = len(log.get("train_loss", []))
    static = ("Where the order of events carries no signal (as in this synthetic data, drawn "
              "from static tastes) a sequential model has nothing extra to learn and ease can "
              "win. " if dataset.name == "synthetic" else "")
    section.text(
        f"{dataset.name}: each user's latest interaction is held out ({len(split.test):,} "
        f"users); models are fitted on the rest and rank all {split.train.n_items:,} items, "
        f"training items excluded. sasrec reads each user's time-ordered history with causal "
        f"self-attention (here {DEMO_SASREC['dim']}-d, at most {DEMO_SASREC['max_len']} "
        f"items, a {DEMO_SASREC['max_seconds']:.0f} s training budget: {n_epochs} epoch(s)). "
        f"{static}Intervals: 95% bootstrap over users.")
    if log.get("stopped") == "max_seconds" and n_epochs < SMOKE_EPOCHS:
        section.text(f"Smoke run: sasrec's {DEMO_SASREC['max_seconds']:.0f} s budget allowed "
                     f"only {n_epochs} epoch(s) on {dataset.name}, far from converged, so its "
                     "row below says nothing about how well sasrec does on this data; "
                     "benchmarks/next_item.py trains it fully (README: sequential "
                     "benchmark).")
    rows = []
    for run in runs:
        m, ci = run.result.metrics, run.result.intervals
        rows.append([run.name, m[f"hit_rate@{K}"], m[f"ndcg@{K}"],
                     f"{ci[f'ndcg@{K}'][0]:.4f}–{ci[f'ndcg@{K}'][1]:.4f}", run.fit_s])
    section.table(["model", f"HR@{K}", f"NDCG@{K}", "NDCG 95% CI", "fit s"], rows)
    if len(log.get("validation", [])) >= SMOKE_EPOCHS:
        fig, ax = plt.subplots(figsize=(5.5, 3.2))
        epochs = range(1, len(log["validation"]) + 1)
        ax.plot(epochs, log["validation"], marker="o", color="#4c72b0")
        ax.axvline(log["best_epoch"], color="#dd8452", linestyle="--", label="kept epoch")
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation NDCG@10")
        ax.legend()
        ax.set_title(f"sasrec early stopping ({dataset.name})")
        section.figure(fig, f"sasrec's validation NDCG@10 per epoch on {dataset.name} "
                            f"(stopped: {log['stopped']}); the weights of the best epoch are "
                            "kept.")
    return section
