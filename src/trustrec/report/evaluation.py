"""Report sections for model comparisons: a metrics table and accuracy/popularity plots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from trustrec.experiment import ModelRun
from trustrec.report.html import Section


def dataset_section(summary: Mapping[str, Any], title: str = "Data") -> Section:
    """A two-column table of a dataset summary."""
    return Section(title).table(["field", "value"], list(summary.items()))


def comparison_section(runs: Sequence[ModelRun], rows: Sequence[Mapping[str, Any]], k: int,
                       title: str = "Model comparison") -> Section:
    """Metrics table plus an NDCG bar chart with confidence intervals and an
    accuracy-versus-popularity scatter (lower ARP = less popularity bias)."""
    section = Section(title)
    section.text(f"Full ranking over all items, seen training items excluded, k={k}. "
                 "Intervals are 95% bootstrap intervals over test users.")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    section.table(columns, [[row.get(c, float("nan")) for c in columns] for row in rows])

    key = f"ndcg@{k}"
    labels = [run.spec.label() for run in runs]
    means = np.array([run.ranking.metrics[key] for run in runs])
    bounds = np.array([run.ranking.intervals.get(key, (m, m))
                       for run, m in zip(runs, means, strict=True)]).reshape(-1, 2)
    lo, hi = bounds[:, 0], bounds[:, 1]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.bar(labels, means, yerr=np.vstack([means - lo, hi - means]), capsize=4, color="#4c72b0")
    ax.set_ylabel(key.upper())
    ax.tick_params(axis="x", rotation=30)
    ax.set_title(f"{key.upper()} per model (95% CI)")
    section.figure(fig, f"{key.upper()} of each model with bootstrap confidence intervals.")

    arp = np.array([run.ranking.metrics.get("arp", np.nan) for run in runs])
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.scatter(arp, means, color="#dd8452")
    for label, x, y in zip(labels, arp, means, strict=True):
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=8)
    ax.set_xlabel("average recommended popularity (ARP)")
    ax.set_ylabel(key.upper())
    ax.set_title("Accuracy versus popularity bias")
    section.figure(fig, "Each model's accuracy against the popularity of what it recommends.")
    return section
