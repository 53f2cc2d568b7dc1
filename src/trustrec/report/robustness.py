"""Report sections for robustness audits: stage tables, target hit ratio against attack
size, and detector precision / recall."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt

from trustrec.report.html import Section

STAGES = ("clean", "attacked", "defended")  # the stages of a RobustnessReport's summary
_STAGE_KEYS = ("target_hr@10", "target_hr@50", "target_mean_rank", "genuine_ndcg@10")


def audit_section(report: Any, title: str = "Robustness audit") -> Section:
    """Section for one :class:`~trustrec.robustness.audit.RobustnessReport`: a table of
    clean / attacked / defended figures (mean ± std over seeds when there are several),
    detector metrics, and plots of the targets' rank per stage and of the detector."""
    data = report.to_dict()
    attack, summary = data["attack"], data["summary"]
    section = Section(title)
    settings = data["settings"]
    seeds = int(settings["seeds"])
    what = {"text": f"rewritten texts (≤ {attack.get('budget')} inserted words)",
            "llm_text": f"LLM-rewritten texts (≤ {attack.get('budget')} victim queries each)",
            "injection": "instructions planted in one item's text"}.get(
        attack["kind"]) or f"{attack['size']:.0%} fake users"
    spread = f"{seeds} seeds (mean ± std)" if seeds > 1 else "1 seed"
    section.text(f"Model {data['model']} under a {attack['kind']} {attack['intent']} attack "
                 f"of {what} on {settings['n_targets']} "
                 f"unpopular targets, {spread}. "
                 f"Detector: {settings['detector']}; defence: {settings['defence']} what it "
                 "flags, then retrain.")

    def cell(stat: Mapping[str, float]) -> Any:
        return f"{stat['mean']:.4f} ± {stat['std']:.4f}" if seeds > 1 else stat["mean"]

    missing = {"mean": float("nan"), "std": float("nan")}
    rows = [[stage, *(cell(summary.get(f"{stage}.{key}", missing)) for key in _STAGE_KEYS)]
            for stage in STAGES]
    section.table(["stage", *_STAGE_KEYS], rows)
    detect = {k.removeprefix("detect."): v for k, v in summary.items()
              if k.startswith("detect.")}
    head = [f"detector ({settings['detector']})", "mean", *(["std"] if seeds > 1 else [])]
    section.table(head, [[name, v["mean"], *([v["std"]] if seeds > 1 else [])]
                         for name, v in detect.items()])
    _stage_figure(section, summary, seeds)
    shown = [m for m in ("precision", "recall", "f1") if m in detect]
    if shown:
        fig, ax = plt.subplots(figsize=(4.5, 3))
        ax.bar(shown, [detect[m]["mean"] for m in shown],
               yerr=[detect[m]["std"] for m in shown] if seeds > 1 else None, capsize=4,
               color="#55a868")
        ax.set_ylim(0, 1.05)
        ax.set_title(f"detector: {settings['detector']}")
        section.figure(fig, "Share of the fake accounts (or rewritten texts) the detector "
                            "caught (recall) and of its flags that were fake (precision).")
    return section


def _stage_figure(section: Section, summary: Mapping[str, Any], seeds: int) -> None:
    """Bars of the targets' mean rank (lower = promoted) clean, attacked and defended."""
    key = "target_mean_rank"
    stats = [summary.get(f"{stage}.{key}") for stage in STAGES]
    if any(s is None for s in stats):
        return
    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.bar(STAGES, [s["mean"] for s in stats], yerr=[s["std"] for s in stats]
           if seeds > 1 else None, capsize=4, color=["#4c72b0", "#c44e52", "#55a868"])
    ax.set_ylabel("targets' mean rank")
    ax.set_title("rank shift of the targets")
    section.figure(fig, "Mean rank of the target items among genuine users (lower is "
                        "promoted): without the attack, under it, and after the defence.")


def size_figure(section: Section, points: Sequence[Mapping[str, Any]],
                metric: str = "target_hr@10") -> Section:
    """Add a plot of a target metric (e.g. ``target_hr@10``, ``target_mean_rank``) against
    attack size, one line per (model, attack).

    ``points``: dicts with ``model``, ``attack``, ``size`` and ``value``."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    lines: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for p in points:
        lines.setdefault((p["model"], p["attack"]), []).append((p["size"], p["value"]))
    for (model, attack), xy in sorted(lines.items()):
        xy.sort()
        ax.plot([x * 100 for x, _ in xy], [y for _, y in xy], marker="o",
                label=f"{model} / {attack}")
    ax.set_xlabel("attack size (% of users)")
    ax.set_ylabel(metric)
    ax.legend(fontsize=7)
    return section.figure(fig, f"{metric} of the targets among genuine users who had not "
                               "seen them, against attack size (attacked model).")


def detector_figure(section: Section, rows: Sequence[Mapping[str, Any]]) -> Section:
    """Add a precision / recall scatter, one point per (detector, attack) row."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for row in rows:
        ax.scatter(row["recall"], row["precision"])
        ax.annotate(str(row["label"]), (row["recall"], row["precision"]), fontsize=7,
                    textcoords="offset points", xytext=(3, 3))
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    return section.figure(fig, "Detector precision and recall per attack family.")
