"""Demo section of the fairness layer: a small audit of ``ease``, three re-rankers' frontier
and explanations of a few recommendations, rendered by :mod:`trustrec.report.fairness`."""

from __future__ import annotations

import numpy as np

from trustrec.data import Dataset
from trustrec.report.fairness import fairness_section
from trustrec.report.html import Section


def demo_fairness(dataset: Dataset, seed: int = 0) -> Section:
    """A small fairness audit of ``ease`` on ``dataset`` (gender/age/activity groups where
    present), three re-rankers' frontier and explanations of a few recommendations."""
    from trustrec.data import split
    from trustrec.explain import ItemInfo, explain_recommendations
    from trustrec.fairness import MMR, Calibrated, XQuadLongTail, audit_fairness, sweep
    from trustrec.fairness.groups import user_groups
    from trustrec.models import create_model

    data = split.keep_min_interactions(dataset, min_user=5)
    parts = split.random_holdout(data, 0.2, seed=seed)
    model = create_model("ease", seed=seed).fit(parts.train)
    present = [] if data.users is None else list(data.users.columns)
    columns = [*[c for c in ("gender", "age_group", "age") if c in present][:2], "activity"]
    groups = [user_groups(parts.train, c) for c in columns]
    report = audit_fairness(model, parts.train, parts.test, groups, 10, seed=seed, n_boot=300,
                            n_perm=300)
    rerankers = [XQuadLongTail(), Calibrated(), MMR()] if data.items is not None and \
        "genres" in data.items.columns else [XQuadLongTail()]
    points = [p for r in rerankers for p in sweep(model, r.fit(parts.train), (0.0, 0.3, 0.6),
                                                  parts.train, parts.test, groups[:1], 10,
                                                  seed=seed, n_boot=100, n_perm=100)]
    info = ItemInfo.from_table(data.items, data.item_index) if data.items is not None else None
    users = data.user_index.ids[np.flatnonzero(parts.train.user_counts() > 0)[:3]]
    explanations = [explain_recommendations(model, u, k=1, items=info)[0] for u in users]
    return fairness_section(report, points, explanations)
