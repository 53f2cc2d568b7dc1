"""Report section for the privacy audit: membership-attack table and plots, DP curve."""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt

from trustrec.privacy.audit import ADVICE_NOTE
from trustrec.report.html import Section


def _attack_figure(section: Section, rows: list[dict[str, Any]]) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    labels = [f"{r['model']}\n{r['attack'].split(' ')[0]}" for r in rows]
    ax.bar(range(len(rows)), [r["auc"] for r in rows], color="#4c72b0")
    ax.axhline(0.5, color="#999", linestyle="--", linewidth=1)
    ax.set_xticks(range(len(rows)), labels, fontsize=8)
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel("membership AUC")
    section.figure(fig, "Membership-inference AUC per model and attack (0.5: guessing).")


def _curve_figure(section: Section, curve: list[dict[str, Any]], k: int) -> None:
    finite = [r for r in curve if math.isfinite(r["epsilon"])]
    top = max((r["epsilon"] for r in finite), default=1.0) * 2
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.0, 3.0))
    for model in dict.fromkeys(r["model"] for r in curve):
        rows = [r for r in curve if r["model"] == model]
        xs = [r["epsilon"] if math.isfinite(r["epsilon"]) else top for r in rows]
        left.plot(xs, [r[f"ndcg@{k}"] for r in rows], marker="o", label=model)
        right.plot(xs, [r["threshold_auc"] for r in rows], marker="o",
                   label=f"{model}, threshold")
        right.plot(xs, [r["shadow_auc"] for r in rows], marker="s", linestyle=":",
                   label=f"{model}, shadow")
    xs = sorted({r["epsilon"] if math.isfinite(r["epsilon"]) else top for r in curve})
    labels = [f"{x:g}" if x != top else "∞" for x in xs]
    for ax, ylabel in ((left, f"NDCG@{k}"), (right, "membership AUC")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, labels)
        ax.set_xlabel("ε")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    right.axhline(0.5, color="#999", linestyle="--", linewidth=1)
    section.figure(fig, "The DP models: utility and membership AUC against the privacy "
                        "budget ε (all user-level, δ = 1e-5).")


def privacy_section(*reports: Any, title: str = "Privacy audit", k: int = 10) -> Section:
    """A section from one or more ``PrivacyReport``s: attack table, AUC plot, DP curve."""
    section = Section(title)
    section.text("Membership inference asks whether a user's data trained the model. Members "
                 "train with their whole history, non-members with half of it; the threshold "
                 "attack ranks a user's held half among the model's scores, the shadow-model "
                 "attack (Zhang et al., CCS 2021) learns from a model trained on other users. "
                 "AUC 0.5 and TPR 0.01 at 1% FPR mean the attacker does no better than "
                 "guessing.")
    rows = [row for report in reports for row in report.rows()]
    section.table(["model", "attack", "AUC", "TPR @ 1% FPR", "members", "non-members"],
                  [[r["model"], r["attack"], r["auc"], r["tpr@1%fpr"], r["members"],
                    r["nonmembers"]] for r in rows])
    _attack_figure(section, rows)
    curve = [row for report in reports for row in report.dp_curve]
    if curve:
        section.table(["model", "ε", "unit", f"NDCG@{k}", "threshold AUC", "shadow AUC",
                       "the artifact releases"],
                      [[r["model"], "∞ (not private)" if math.isinf(r["epsilon"])
                        else r["epsilon"], r["unit"], r[f"ndcg@{k}"], r["threshold_auc"],
                        r["shadow_auc"], r["releases"]] for r in curve])
        _curve_figure(section, curve, k)
        advice = [row for report in reports for row in report.advice]
        section.table(["ε", "release", f"NDCG@{k}", "instead of", f"their NDCG@{k}"],
                      [[r["epsilon"], r["release"], r[f"ndcg@{k}"], r.get("instead_of", "–"),
                        r.get(f"their_ndcg@{k}", "–")] for r in advice])
        section.text(ADVICE_NOTE)
    return section
