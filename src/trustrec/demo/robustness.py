"""Demo section of the robustness layer: small attacks on ``itemknn`` with a defence and a
detector, rendered by :mod:`trustrec.report.robustness`."""

from __future__ import annotations

from trustrec.data.dataset import Dataset
from trustrec.report.html import Section
from trustrec.report.robustness import audit_section, detector_figure, size_figure


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
