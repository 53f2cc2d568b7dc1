"""The privacy audit behind ``trustrec audit privacy``: membership-inference attacks on a
model, the same attacks after unlearning, and the utility/privacy curve of the DP models
(DP-EASE, DP-EASE on privately selected items and DP popularity side by side, each with
its unit and what its artifact releases) with advice on which one to release at each ε."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trustrec.data.dataset import Dataset
from trustrec.data.split import random_holdout
from trustrec.errors import DataError
from trustrec.evaluation.protocol import evaluate_ranking
from trustrec.models.registry import create_model
from trustrec.privacy.membership import (
    AttackResult,
    attack_metrics,
    fit_logistic,
    held_item_ranks,
    history_scores,
    item_embeddings,
    list_features,
    logistic_scores,
    membership_split,
    user_scores,
)
from trustrec.privacy.unlearning import forget_users
from trustrec.progress import ProgressFn, ignore

#: The ε values of the utility/privacy curve (∞: the same model without noise).
CURVE_EPSILONS = (0.5, 1.0, 2.0, 4.0, 8.0, math.inf)
#: The DP models compared at every ε (all user-level, so their ε are comparable).
DP_MODELS = ("dp_ease_topk", "dp_ease", "dp_popularity")
#: What the advice rests on, printed with it.
ADVICE_NOTE = ("The advice compares NDCG on a holdout of the audited data. If that data is "
               "the private data, the choice is made outside the guarantee; choose on "
               "public data of similar size and density instead (docs/privacy.md).")


@dataclass(frozen=True)
class PrivacyReport:
    """Membership-attack results for one model and, optionally, the DP curve rows
    (``model``, ``epsilon``, ``unit``, ``ndcg@10``, ``threshold_auc``, ``shadow_auc``,
    ``releases``) and the advice rows (``epsilon``, ``release``, …; see
    :func:`release_advice`)."""

    model: str
    params: dict[str, Any]
    attacks: tuple[AttackResult, ...]
    dp_curve: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    advice: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def rows(self) -> list[dict[str, Any]]:
        """One table row per attack."""
        return [{"model": self.model, **a.to_dict()} for a in self.attacks]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (∞ written as the string "inf")."""
        curve = [{k: ("inf" if isinstance(v, float) and math.isinf(v) else v)
                  for k, v in row.items()} for row in self.dp_curve]
        return {"model": self.model, "params": dict(self.params),
                "attacks": [a.to_dict() for a in self.attacks], "dp_curve": curve,
                "advice": [dict(row) for row in self.advice],
                "advice_note": ADVICE_NOTE if self.advice else None}


def _groups(dataset: Dataset, seed: int) -> list[np.ndarray]:
    """Users with ≥ 2 interactions, shuffled into four equal groups: target members,
    target non-members, shadow members, shadow non-members."""
    eligible = np.flatnonzero(dataset.user_counts() >= 2)
    if len(eligible) < 8:
        raise DataError(f"privacy audit: dataset '{dataset.name}' has {len(eligible)} users "
                        "with ≥ 2 interactions; need at least 8")
    users = np.random.default_rng(seed).permutation(eligible)
    return np.array_split(users[: len(users) // 4 * 4], 4)


def _attack(name: str, member: np.ndarray, nonmember: np.ndarray) -> AttackResult:
    member, nonmember = member[~np.isnan(member)], nonmember[~np.isnan(nonmember)]
    auc, tpr = attack_metrics(member, nonmember)
    return AttackResult(name, auc, tpr, len(member), len(nonmember))


def audit_membership(dataset: Dataset, model: str, params: Mapping[str, Any] | None = None,
                     k: int = 10, seed: int = 0, embedding_dim: int = 32
                     ) -> tuple[AttackResult, AttackResult]:
    """Threshold and shadow-model (Zhang et al. 2021) attacks on model ``model``.

    The target and the attacker's shadow model are trained on disjoint users of
    ``dataset`` with the same configuration; see :mod:`trustrec.privacy.membership`.
    """
    t_in, t_out, s_in, s_out = _groups(dataset, seed)
    target = membership_split(dataset, t_in, t_out, seed=seed)
    shadow = membership_split(dataset, s_in, s_out, seed=seed + 1)
    target_model = create_model(model, params, seed=seed).fit(target.train)
    shadow_model = create_model(model, params, seed=seed + 1).fit(shadow.train)
    scores = {name: user_scores(target_model, users, target.query)
              for name, users in (("in", target.members), ("out", target.nonmembers))}
    threshold = _attack("threshold (held-item rank)",
                        held_item_ranks(scores["in"], target.held[target.members]),
                        held_item_ranks(scores["out"], target.held[target.nonmembers]))
    emb = item_embeddings(shadow.train.csr, embedding_dim, seed)
    s_hist, t_hist = shadow.query + shadow.held, target.query + target.held
    s_users = np.concatenate([shadow.members, shadow.nonmembers])
    labels = np.concatenate([np.ones(len(shadow.members)), np.zeros(len(shadow.nonmembers))])
    s_scores = user_scores(shadow_model, s_users, shadow.query)
    classifier = fit_logistic(list_features(s_scores, s_hist[s_users], emb, k), labels)
    member = logistic_scores(classifier, list_features(scores["in"], t_hist[target.members],
                                                       emb, k))
    nonmember = logistic_scores(classifier, list_features(
        scores["out"], t_hist[target.nonmembers], emb, k))
    return threshold, _attack("shadow model (Zhang et al. 2021)", member, nonmember)


def unlearning_audit(dataset: Dataset, model: str, params: Mapping[str, Any] | None = None,
                     seed: int = 0) -> tuple[AttackResult, AttackResult]:
    """Threshold attack on members vs outsiders before and after forgetting the members.

    The model trains on the members and on background users; outsiders are never trained
    on. Each attacked user's history is split into a query part A and a held part B, and B
    is ranked among the scores for A given at call time (``score_history``), so forgotten
    users, no longer in the model, are scored like everyone else. After exact unlearning a
    forgotten member is distributed like an outsider: the second AUC should be about 0.5.
    """
    members, outsiders, *background = _groups(dataset, seed)
    parts = membership_split(dataset, members, outsiders, seed=seed)
    train = dataset.subset(users=np.concatenate([members, *background]))
    fitted = create_model(model, params, seed=seed).fit(train)

    def attack(name: str, scorer: Any) -> AttackResult:
        ranks = [held_item_ranks(history_scores(scorer, parts.query[u]), parts.held[u])
                 for u in (members, outsiders)]
        return _attack(name, *ranks)

    before = attack("threshold, before forgetting", fitted)
    forgotten, _ = forget_users(fitted, dataset.user_index.to_external(members))
    return before, attack("threshold, after forgetting", forgotten)


def dp_curve(dataset: Dataset, epsilons: Sequence[float] = CURVE_EPSILONS,
             params: Mapping[str, Mapping[str, Any]] | None = None, k: int = 10,
             seed: int = 0, on_progress: ProgressFn | None = None
             ) -> list[dict[str, Any]]:
    """For each ε and each model of :data:`DP_MODELS` (``params``: per-model parameters):
    NDCG@k on a random 80/20 holdout, both attacks' AUC, the guarantee's unit and the parts
    of the artifact it releases. ``dataset`` needs a public item catalogue.
    ``on_progress(what, done, total)`` hears of every finished (model, ε)."""
    tell = on_progress or ignore
    split = random_holdout(dataset, 0.2, seed=seed)
    rows: list[dict[str, Any]] = []
    total = len(epsilons) * len(DP_MODELS)
    tell("DP models × ε fitted and attacked", 0, total)
    for eps in epsilons:
        for name in DP_MODELS:
            cfg = {**dict((params or {}).get(name, {})), "epsilon": eps}
            fitted = create_model(name, cfg, seed=seed).fit(split.train)
            ndcg = evaluate_ranking(fitted, split.train, split.test, k=k, n_boot=1).metrics
            threshold, shadow = audit_membership(dataset, name, cfg, k=k, seed=seed)
            privacy = fitted.privacy_
            rows.append({"model": name, "epsilon": float(eps), "unit": privacy["unit"],
                         f"ndcg@{k}": ndcg[f"ndcg@{k}"], "threshold_auc": threshold.auc,
                         "shadow_auc": shadow.auc,
                         "releases": ", ".join(privacy["released"])})
            tell("DP models × ε fitted and attacked", len(rows), total)
    return rows


def release_advice(curve: Sequence[Mapping[str, Any]], k: int = 10) -> list[dict[str, Any]]:
    """For each finite ε of ``curve``: the DP model with the best NDCG@k there and the
    runner-up it beats (see :data:`ADVICE_NOTE` for what the choice rests on)."""
    metric = f"ndcg@{k}"
    advice = []
    for eps in sorted({r["epsilon"] for r in curve if math.isfinite(r["epsilon"])}):
        ranked = sorted((r for r in curve if r["epsilon"] == eps), key=lambda r: -r[metric])
        best, rest = ranked[0], ranked[1:]
        row = {"epsilon": eps, "release": best["model"], metric: best[metric]}
        if rest:
            row.update({"instead_of": rest[0]["model"], f"their_{metric}": rest[0][metric]})
        advice.append(row)
    return advice


def privacy_audit(dataset: Dataset, model: str, params: Mapping[str, Any] | None = None,
                  k: int = 10, seed: int = 0, dp_curve_too: bool = False,
                  on_progress: ProgressFn | None = None) -> PrivacyReport:
    """Membership attacks on ``model`` (and with ``dp_curve_too`` the DP models' curve and
    the release advice). ``on_progress(what, done, total)`` hears of each finished step."""
    tell = on_progress or ignore
    tell(f"membership attacks on {model}", 0, 1)
    attacks = audit_membership(dataset, model, params, k=k, seed=seed)
    tell(f"membership attacks on {model}", 1, 1)
    curve = dp_curve(dataset, k=k, seed=seed, on_progress=on_progress) if dp_curve_too else []
    return PrivacyReport(model=model, params=dict(params or {}), attacks=attacks,
                         dp_curve=tuple(curve), advice=tuple(release_advice(curve, k)))
