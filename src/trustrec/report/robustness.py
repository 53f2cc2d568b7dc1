"""Report sections for robustness audits: stage tables, target hit ratio against attack
size, and detector precision / recall."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt

from trustrec.data.dataset import Dataset
from trustrec.report.html import Section

_STAGE_KEYS = ("target_hr@10", "target_hr@50", "target_mean_rank", "genuine_ndcg@10")


def audit_section(report: Any, title: str = "Robustness audit") -> Section:
    """Section for one :class:`~trustrec.robustness.audit.RobustnessReport`: a table of
    clean / attacked / defended figures (mean ± std over seeds) and detector metrics."""
    data = report.to_dict()
    attack, summary = data["attack"], data["summary"]
    section = Section(title)
    settings = data["settings"]
    what = (f"rewritten texts (≤ {attack['budget']} inserted words)" if attack["kind"] == "text"
            else f"{attack['size']:.0%} fake users")
    section.text(f"Model {data['model']} under a {attack['kind']} {attack['intent']} attack "
                 f"of {what} on {settings['n_targets']} "
                 f"unpopular targets, {settings['seeds']} seeds (mean ± std). "
                 f"Detector: {settings['detector']}; defence: {settings['defence']} what it "
                 "flags, then retrain.")
    rows = []
    for stage in ("clean", "attacked", "defended"):
        cells: list[Any] = [stage]
        for key in _STAGE_KEYS:
            stat = summary.get(f"{stage}.{key}", {"mean": float("nan"), "std": float("nan")})
            cells.append(f"{stat['mean']:.4f} ± {stat['std']:.4f}")
        rows.append(cells)
    section.table(["stage", *_STAGE_KEYS], rows)
    detect = [[k.removeprefix("detect."), v["mean"], v["std"]]
              for k, v in summary.items() if k.startswith("detect.")]
    section.table([f"detector ({settings['detector']})", "mean", "std"], detect)
    return section


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


def demo_robustness(dataset: Dataset | None = None, seed: int = 0) -> Section:
    """A small robustness audit on the demo data (default ``synthetic.generate(seed=0)``):
    itemknn under an average attack of 5% fake users with the supervised defence (table),
    then average and model-generated attacks at 1% and 5% with the outlier detector
    (plots of the targets' mean rank against size and detector precision / recall)."""
    from trustrec.data import synthetic
    from trustrec.robustness.audit import audit_robustness

    dataset = synthetic.generate(seed=0) if dataset is None else dataset
    main = audit_robustness(dataset, "itemknn", "average", 0.05, n_targets=3, seeds=1,
                            sampler="markov")
    section = audit_section(main, "Robustness: fake profiles")
    points, detect_rows = [], []
    for attack in ("average", "generative"):
        for size in (0.01, 0.05):
            s = audit_robustness(dataset, "itemknn", attack, size, n_targets=3, seeds=1,
                                 sampler="markov", detector="outlier").summary
            points.append({"model": "itemknn", "attack": attack, "size": size,
                           "value": s["attacked.target_mean_rank"]["mean"]})
            detect_rows.append({"label": f"{attack} {size:.0%}",
                                "precision": s["detect.precision"]["mean"],
                                "recall": s["detect.recall"]["mean"]})
    size_figure(section, points, "target_mean_rank")
    return detector_figure(section, detect_rows)
