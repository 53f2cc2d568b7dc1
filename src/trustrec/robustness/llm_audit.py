"""The LLM attacks of ``trustrec audit robustness``: item-text rewriting (``llm_text``) and
prompt injection through item text (``injection``); LLM-agent fake profiles run through
the profile audit (``llm_profiles``, see :mod:`trustrec.robustness.audit`).

``llm_text``, per seed: split, draw unpopular targets, fit the victim on the clean data,
let the language model rewrite the targets' texts with black-box queries of the victim's
target ranks over ``audience`` random genuine users (:func:`~trustrec.robustness.llm_text.
llm_rewrite_attack`), raise the drift alarm between the clean and the rewritten catalogue
and restore what it flags, then fit and measure clean / attacked / defended.

``injection``, per seed: fit ``llm_rerank`` on the training split, plant each template in
one carrier item's text and run :func:`~trustrec.robustness.injection.injection_trials`;
the detector's false alarms are counted over the whole clean catalogue.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trustrec.data.dataset import Dataset
from trustrec.data.split import random_holdout
from trustrec.errors import ConfigError
from trustrec.llm.base import LanguageModel
from trustrec.progress import ProgressFn
from trustrec.robustness.injection import (
    DESIGN_TEMPLATES,
    TEMPLATES,
    injection_scores,
    injection_trials,
    other_title_spans,
    success_rates,
)
from trustrec.robustness.llm_text import drift_alarm, llm_rewrite_attack
from trustrec.robustness.measure import audience, mean_spread, target_ranks
from trustrec.robustness.specs import pick_targets
from trustrec.robustness.text_attack import MemoEncoder, quarantine
from trustrec.text.item_text import DEFAULT_FIELDS, build_item_texts


def _victim(model: str, params: dict[str, Any], seed: int, encoder: Any,
            lm: LanguageModel | None) -> Any:
    from trustrec.robustness.audit import make_model

    return make_model(model, params, seed, encoder, lm)


def _text_column(victim: Any, dataset: Dataset) -> str:
    """The item-table column the attacker rewrites: ``description`` when the victim reads
    it, else ``title`` (what ``llm_rerank``'s prompt shows; a catalogue without
    descriptions, such as ML-100K's, has only titles and genres), else its last text field."""
    fields = ["title"] if victim.name == "llm_rerank" else \
        victim.config.fields() or [f for f in DEFAULT_FIELDS if f in dataset.items]
    return next((f for f in ("description", "title") if f in fields), fields[-1])


def _query(model: str, params: dict[str, Any], seed: int, encoder: Any,
           lm: LanguageModel | None, fitted: Any, users: np.ndarray):
    """The attacker's black-box query: publish the dataset's texts, read the victim's mean
    rank and HR@10 of the target over ``users`` (those who have not seen it)."""
    from trustrec.models.llm_rerank import item_labels

    def query(published: Dataset, target: int) -> tuple[float, float]:
        if fitted.name == "llm_rerank":  # the catalogue update reaches the prompt at once
            import copy

            victim = copy.copy(fitted)
            victim.item_titles_, victim.item_lines_ = item_labels(published)
            victim._neutral = {}
        else:  # text models encode the catalogue when fitted: refit (encodings memoised)
            victim = _victim(model, params, seed, encoder, lm).fit(published)
        seen = published.csr[users][:, [target]].toarray().ravel() > 0
        ranks = target_ranks(victim, users[~seen], np.array([target]))[:, 0]
        return float(ranks.mean()), float((ranks < 10).mean())

    return query


def llm_text_audit(dataset: Dataset, model: str, lm: LanguageModel, encoder: Any,
                   n_targets: int = 2, seeds: int = 1, *, params: dict[str, Any] | None = None,
                   test_fraction: float = 0.2, budget: int = 8, audience_users: int = 30,
                   drift_threshold: float = 0.9,
                   on_progress: ProgressFn | None = None) -> Any:
    """The ``llm_text`` audit (module docstring); a :class:`RobustnessReport`."""
    from trustrec.robustness.audit import RobustnessReport, measure_stages
    from trustrec.robustness.detect import Detection, detection_metrics

    params = dict(params or {})
    if not (model == "llm_rerank" or hasattr(_victim(model, params, 0, None, None),
                                             "use_encoder")):
        raise ConfigError(f"attack 'llm_text' needs a model that reads item text (content, "
                          f"hybrid, llm_rerank); got '{model}'")
    if dataset.items is None:
        raise ConfigError("attack 'llm_text' needs an item table (--items)")
    memo = encoder if isinstance(encoder, MemoEncoder) else MemoEncoder(encoder)
    tell = on_progress or (lambda _w, _d, _t: None)
    what = f"llm_text attack on {model}: seeds"
    tell(what, 0, seeds)
    runs = []
    for seed in range(seeds):
        split = random_holdout(dataset, test_fraction, seed=seed)
        train, test = split.train, split.test
        targets = pick_targets(train, n_targets, seed)
        users, eligible = audience(train, targets)
        clean = _victim(model, params, seed, memo, lm).fit(train)
        rng = np.random.default_rng(seed)
        crowd = np.sort(rng.choice(users, min(audience_users, len(users)), replace=False))
        weights = np.asarray(train.csr[crowd].sum(axis=0)).ravel()
        titles = train.items["title"].astype(str).to_numpy() if "title" in train.items \
            else np.asarray(train.item_index.ids).astype(str)
        liked = [titles[i] for i in np.argsort(-weights, kind="stable")[:5]]
        column = _text_column(clean, train)
        query = _query(model, params, seed, memo, lm, clean, crowd)
        attacked, rewrites = llm_rewrite_attack(lm, query, train, targets, liked, memo, column,
                                                budget=budget, seed=seed)
        before = build_item_texts(train.items, fields=[column])
        after = build_item_texts(attacked.items, fields=[column])
        flags = drift_alarm(memo, before, after, drift_threshold)
        defended = quarantine(attacked, train, flags)
        truth = np.isin(np.arange(train.n_items), targets) & \
            np.array([a != b for a, b in zip(before, after, strict=True)])
        detection = Detection(flags.astype(float), flags, "drift")
        run: dict[str, Any] = {
            "seed": seed, "targets": train.item_index.to_external(targets).tolist(),
            "column": column, "queries": float(np.mean([r.queries for r in rewrites])),
            "drift": float(np.mean([r.drift for r in rewrites])),
            "perplexity_original": float(np.mean([r.perplexity_before for r in rewrites])),
            "perplexity_rewrite": float(np.mean([r.perplexity_after for r in rewrites])),
            "edit_words": float(np.mean([r.edit_words for r in rewrites])),
            "query_rank_gain": float(np.mean([r.rank_before - r.rank_after for r in rewrites])),
            "rewritten": float(truth.sum()), "rewrites": [r.to_dict() for r in rewrites]}
        run |= measure_stages(model, params, seed, memo, lm, [
            ("clean", train, test), ("attacked", attacked, test),
            ("defended", defended, test)], users, eligible, targets)
        run |= {f"detect.{k}": v for k, v in detection_metrics(truth, detection).items()}
        runs.append(run)
        tell(what, seed + 1, seeds)
    summary = mean_spread(runs)
    summary.pop("seed", None)
    settings = {"n_targets": n_targets, "seeds": seeds, "test_fraction": test_fraction,
                "detector": f"drift alarm (cosine < {drift_threshold})",
                "defence": "restore", "params": params, "audience_users": audience_users,
                "llm": lm.model_id, "dataset": dataset.summary()}
    attack = {"kind": "llm_text", "intent": "push", "budget": budget,
              "seed": f"0..{seeds - 1}"}
    return RobustnessReport(model, attack, runs, summary, settings)


def injection_audit(dataset: Dataset, lm: LanguageModel, seeds: int = 1, *,
                    params: dict[str, Any] | None = None, test_fraction: float = 0.2,
                    n_users: int = 20, on_progress: ProgressFn | None = None) -> Any:
    """The ``injection`` audit against ``llm_rerank`` (module docstring). ``params`` are
    ``llm_rerank``'s, plus ``weight``: a blend weight the operator fixes instead of the
    validated one (where validation chooses 0 the language model never ranks, and no
    injection can succeed — measured, not assumed)."""
    from trustrec.models.llm_rerank import item_labels
    from trustrec.robustness.audit import RobustnessReport

    params = dict(params or {})
    fixed = params.pop("weight", None)
    tell = on_progress or (lambda _w, _d, _t: None)
    what = "injection attack on llm_rerank: seeds"
    tell(what, 0, seeds)
    runs = []
    for seed in range(seeds):
        train = random_holdout(dataset, test_fraction, seed=seed).train
        victim = _victim("llm_rerank", params, seed, None, lm).fit(train)
        if fixed is not None:
            victim.weight_ = float(fixed)
        carrier = int(pick_targets(train, 1, seed)[0])
        trials = injection_trials(victim, carrier, n_users, seed=seed)
        titles, lines = item_labels(train)
        alarms = (injection_scores(lines) > 0) | \
            np.array([s is not None for s in other_title_spans(lines, titles)])
        run: dict[str, Any] = {"seed": seed, "weight": victim.weight_,
                               "carrier": str(train.item_index.to_external([carrier])[0]),
                               "detector_fpr_catalogue": float(alarms.mean())}
        for name, rates in success_rates(trials).items():
            run |= {f"{name}.{k}": v for k, v in rates.items()}
        runs.append(run)
        tell(what, seed + 1, seeds)
    summary = mean_spread(runs)
    summary.pop("seed", None)
    settings = {"n_targets": 1, "seeds": seeds, "test_fraction": test_fraction,
                "detector": "injection patterns + names another item",
                "defence": "sanitise item text", "params": params, "fixed_weight": fixed,
                "n_users": n_users,
                "design_templates": list(DESIGN_TEMPLATES), "llm": lm.model_id,
                "dataset": dataset.summary()}
    attack = {"kind": "injection", "intent": "push", "templates": list(TEMPLATES),
              "seed": f"0..{seeds - 1}"}
    return RobustnessReport("llm_rerank", attack, runs, summary, settings)
