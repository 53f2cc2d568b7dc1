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
    key = f"ndcg@{k}"
    labels = [run.spec.label() for run in runs]
    means = np.array([run.ranking.metrics[key] for run in runs])
    bounds = np.array([run.ranking.intervals.get(key, (m, m))
                       for run, m in zip(runs, means, strict=True)]).reshape(-1, 2)
    lo, hi = bounds[:, 0], bounds[:, 1]
    section.text(f"Full ranking over all items, seen training items excluded, k={k}. The "
                 f"{key.upper()} 95% CI column and the bar chart's error bars are bootstrap "
                 "intervals over test users; – marks a metric that does not apply (RMSE and "
                 "MAE of models that do not predict ratings).")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    at = columns.index(key) + 1 if key in columns else len(columns)
    ci_column = f"{key.upper()} 95% CI"
    by_label = dict(zip(labels, zip(lo, hi, strict=True), strict=True))
    table_rows = []
    for row in rows:
        cells = [row.get(c) for c in columns]
        low_high = by_label.get(row.get("model"))
        cells.insert(at, f"{low_high[0]:.4f}–{low_high[1]:.4f}" if low_high else None)
        table_rows.append(cells)
    section.table([*columns[:at], ci_column, *columns[at:]], table_rows)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.bar(labels, means, yerr=np.vstack([means - lo, hi - means]), capsize=4, color="#4c72b0")
    ax.set_ylabel(key.upper())
    ax.tick_params(axis="x", rotation=30)
    ax.set_title(f"{key.upper()} per model (95% CI)")
    section.figure(fig, f"{key.upper()} of each model with bootstrap confidence intervals.")

    arp = np.array([run.ranking.metrics.get("arp", np.nan) for run in runs])
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    markers = "osD^vP*Xh<>"
    for n, (label, x, y) in enumerate(zip(labels, arp, means, strict=True)):
        # a legend instead of labels at the points: close models would overlap
        ax.scatter([x], [y], marker=markers[n % len(markers)], s=45, label=label)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.set_xlabel("average recommended popularity (ARP)")
    ax.set_ylabel(key.upper())
    ax.set_title("Accuracy versus popularity bias")
    section.figure(fig, "Each model's accuracy against the popularity of what it recommends.")
    return section
