"""Report section for fairness audits: group gaps with intervals, long-tail and category
exposure, the accuracy/fairness frontier of re-rankers, and example explanations."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from trustrec.explain import Explanation
from trustrec.fairness import FairnessReport, FrontierPoint
from trustrec.report.html import Section


def _gap_figure(report: FairnessReport, metric: str) -> plt.Figure:
    columns = list(report.groups)
    fig, axes = plt.subplots(1, len(columns), figsize=(3.4 * len(columns), 3.0), squeeze=False)
    for ax, column in zip(axes[0], columns, strict=True):
        rows = report.groups[column].rows
        means = np.array([r[metric] for r in rows])
        lo = np.array([r[f"{metric}_lo"] for r in rows])
        hi = np.array([r[f"{metric}_hi"] for r in rows])
        err = np.nan_to_num(np.vstack([means - lo, hi - means]), nan=0.0)
        ax.bar([str(r["group"]) for r in rows], means, yerr=err, capsize=3, color="#4c72b0")
        ax.set_title(column)
        ax.tick_params(axis="x", rotation=30)
    axes[0][0].set_ylabel(metric.upper())
    return fig


def _category_figure(report: FairnessReport) -> plt.Figure:
    names = list(report.categories)
    shown = [report.categories[n]["exposure_share"] for n in names]
    liked = [report.categories[n]["interaction_share"] for n in names]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(names)), 3.0))
    ax.bar(x - 0.2, liked, 0.4, label="share of training interactions", color="#999999")
    ax.bar(x + 0.2, shown, 0.4, label="share of recommendations", color="#dd8452")
    ax.set_xticks(x, names, rotation=60, ha="right")
    ax.legend(fontsize=8)
    return fig


def _frontier_figure(points: Sequence[FrontierPoint], metric: str, x_key: str,
                     x_label: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for method in dict.fromkeys(p.method for p in points):
        mine = [p for p in points if p.method == method]
        xs = [p.report.metrics.get(x_key, np.nan) for p in mine]
        ys = [p.report.metrics[metric] for p in mine]
        ax.plot(xs, ys, marker="o", label=method)
        for p, xv, yv in zip(mine, xs, ys, strict=True):
            ax.annotate(f"{p.weight:g}", (xv, yv), textcoords="offset points", xytext=(3, 3),
                        fontsize=7)
    ax.set_xlabel(x_label)
    ax.set_ylabel(metric.upper())
    ax.legend(fontsize=8)
    return fig


def fairness_section(report: FairnessReport, frontier: Sequence[FrontierPoint] = (),
                     explanations: Sequence[Explanation] = (),
                     title: str = "Fairness and popularity bias") -> Section:
    """Group table and gap bars, item-side exposure, the frontier and explanations."""
    metric = f"ndcg@{report.k}"
    section = Section(title)
    section.text(f"Model '{report.model}', top-{report.k} lists. Group means carry "
                 f"{100 * report.confidence:.0f}% bootstrap intervals over users; a gap is the "
                 "largest minus the smallest group mean, its p-value from a permutation test "
                 "of group labels.")
    section.table(["metric", "value"], [[k, v] for k, v in report.metrics.items()])
    rows = []
    for column, audit in report.groups.items():
        for m in (metric, "aplt"):
            if m in audit.gaps:
                g = audit.gaps[m]
                rows.append([column, m, g.worst, g.best, g.absolute, g.relative, g.p_value,
                             g.adjusted])
    section.table(["groups", "metric", "worst", "best", "gap", "relative gap", "p-value",
                   "gap at equal activity"], rows)
    if report.groups:
        section.figure(_gap_figure(report, metric),
                       f"{metric.upper()} per user group with bootstrap intervals.")
    if report.categories:
        section.figure(_category_figure(report), "Exposure by item category: what users chose "
                       "in training versus what the model recommends.")
    if frontier:
        label = f"APLT@{report.k} (long-tail share)"
        section.figure(_frontier_figure(frontier, metric, "aplt", label),
                       f"Accuracy/long-tail frontier: {metric.upper()} against APLT@{report.k} "
                       "for each re-ranker (labels: trade-off weight; 0 = the model).")
        columns = list(frontier[0].row())
        section.table(columns, [[p.row().get(c, float("nan")) for c in columns]
                                for p in frontier])
    if explanations:
        section.table(["user", "item", "kind", "explanation"],
                      [[e.user_id, e.item_id, e.kind, e.text] for e in explanations])
    return section
