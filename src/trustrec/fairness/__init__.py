"""Fairness: who a recommender serves worse, which items it never shows, and re-rankers
that correct it (user groups, group audits with intervals and tests, exposure, calibration)."""

from trustrec.fairness.audit import (
    FairnessReport,
    GroupAudit,
    GroupGap,
    audit_fairness,
    evaluate_with_lists,
    fairness_report,
    group_audit,
    permutation_p_value,
)
from trustrec.fairness.exposure import (
    aplt,
    calibration_kl,
    category_exposure,
    item_categories,
    kl_divergence,
    long_tail_mask,
)
from trustrec.fairness.frontier import FrontierPoint, sweep
from trustrec.fairness.groups import UserGroups, activity_groups, bands, user_groups
from trustrec.fairness.rerank import (
    MMR,
    Calibrated,
    GroupBoost,
    RerankedModel,
    Reranker,
    XQuadLongTail,
    scaled_relevance,
)

#: Re-rankers by name, for the CLI and sweeps.
RERANKERS: dict[str, type[Reranker]] = {cls.name: cls for cls in
                                         (MMR, Calibrated, XQuadLongTail, GroupBoost)}

__all__ = [
    "MMR",
    "RERANKERS",
    "Calibrated",
    "FairnessReport",
    "FrontierPoint",
    "GroupAudit",
    "GroupBoost",
    "GroupGap",
    "RerankedModel",
    "Reranker",
    "UserGroups",
    "XQuadLongTail",
    "activity_groups",
    "aplt",
    "audit_fairness",
    "bands",
    "calibration_kl",
    "category_exposure",
    "evaluate_with_lists",
    "fairness_report",
    "group_audit",
    "item_categories",
    "kl_divergence",
    "long_tail_mask",
    "permutation_p_value",
    "scaled_relevance",
    "sweep",
    "user_groups",
]
