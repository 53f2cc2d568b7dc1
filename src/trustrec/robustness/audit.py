"""The robustness audit: attack a model over several seeds, detect, defend, re-measure.

Per seed: split the data (random 80/20 holdout), draw unpopular targets, attack the
training part, fit the model on clean, attacked and defended (flagged users dropped)
training data, and measure target hit ratio @10/@50, mean target rank, genuine NDCG@10
(and prediction shift for rating models) plus the detector's precision and recall.

Detectors: ``supervised`` is trained once, on attacks the defender simulates on the first
seed's attacked training data (other targets and seeds, every profile family; see
:func:`~trustrec.robustness.defend.simulated_detector`); ``group`` finds accounts that push
the same item pairs together; ``combined`` (default) flags what either flags; ``outlier``
is the unsupervised profile-statistics detector. Defences: ``drop`` flagged users, or
``downweight`` every user's interactions by ``1 − P(fake)`` (robust training for
confidence-weighted models).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trustrec.data.dataset import Dataset
from trustrec.data.split import random_holdout
from trustrec.errors import ConfigError
from trustrec.models.base import Recommender
from trustrec.models.registry import create_model
from trustrec.progress import ProgressFn, ignore
from trustrec.robustness.defend import DEFENCES, downweight, drop_flagged, simulated_detector
from trustrec.robustness.detect import (
    Detection,
    SupervisedDetector,
    detection_metrics,
    group_detect,
    text_detect,
    unsupervised_detect,
)
from trustrec.robustness.inject import in_space
from trustrec.robustness.measure import audience, mean_spread, outcome, prediction_shift
from trustrec.robustness.specs import AttackSpec, make_attack, pick_targets
from trustrec.robustness.text_attack import MemoEncoder, quarantine, text_attack
from trustrec.text.item_text import build_item_texts

STAGES = ("clean", "attacked", "defended")
DETECTORS = ("combined", "supervised", "group", "outlier")


@dataclass(frozen=True)
class RobustnessReport:
    """Outcome of :func:`audit_robustness`: the settings, one row per seed and the mean /
    standard deviation over seeds of every figure."""

    model: str
    attack: dict[str, Any]
    runs: list[dict[str, Any]]
    summary: dict[str, dict[str, float]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"model": self.model, "attack": self.attack, "settings": self.settings,
                "summary": self.summary, "runs": self.runs}

    def table(self) -> list[dict[str, Any]]:
        """One row per stage: mean target HR@10/@50, mean rank and genuine NDCG@10."""
        rows = []
        for stage in STAGES:
            row: dict[str, Any] = {"stage": stage}
            for key in ("target_hr@10", "target_hr@50", "target_mean_rank", "genuine_ndcg@10"):
                stat = self.summary.get(f"{stage}.{key}")
                row[key] = stat["mean"] if stat else float("nan")
                row[f"{key}_std"] = stat["std"] if stat else float("nan")
            rows.append(row)
        return rows

    def injection_table(self) -> list[dict[str, Any]]:
        """Prompt injection: one row per template with the mean success (target first)
        undefended and defended and the mean rank gain."""
        names = dict.fromkeys(k.split(".")[0] for k in self.summary if k.endswith(".success"))
        return [{"template": n, **{k: self.summary[f"{n}.{k}"]["mean"] for k in
                                  ("success", "success_defended", "rank_gain",
                                   "rank_gain_defended")}} for n in names]


def _detect(dataset: Dataset, name: str, supervised: SupervisedDetector | None,
            threshold: float) -> Detection:
    """Run detector ``name``; ``combined`` flags what the supervised or group one flags."""
    if name == "outlier":
        return unsupervised_detect(dataset, threshold=threshold)
    if name == "group":
        return group_detect(dataset)
    found = supervised.detect(dataset)
    if name == "supervised":
        return found
    group = group_detect(dataset) if dataset.explicit else \
        Detection(np.zeros(dataset.n_users), np.zeros(dataset.n_users, bool), "group")
    return Detection(np.maximum(found.scores, group.flags), found.flags | group.flags,
                     "combined")


def make_model(model: str, params: dict[str, Any], seed: int, encoder: Any = None,
               lm: Any = None) -> Recommender:
    """An unfitted ``model`` sharing ``encoder`` (text models) and ``lm`` (``llm_rerank``)
    where given."""
    recommender = create_model(model, params, seed=seed)
    if encoder is not None and hasattr(recommender, "use_encoder"):
        recommender.use_encoder(encoder)
    if lm is not None and hasattr(recommender, "use_llm"):
        recommender.use_llm(lm)
    return recommender


def measure_stages(model: str, params: dict[str, Any], seed: int, encoder: Any, lm: Any,
                   stages: list[tuple[str, Dataset, Dataset]], users: np.ndarray,
                   eligible: np.ndarray, targets: np.ndarray) -> dict[str, Any]:
    """Fit the model on each stage's training data and measure it; prediction shift too
    for rating models."""
    run: dict[str, Any] = {}
    fitted = {}
    for stage, train, test in stages:
        fitted[stage] = make_model(model, params, seed, encoder, lm).fit(train)
        for key, value in outcome(fitted[stage], train, test, users, eligible, targets).items():
            run[f"{stage}.{key}"] = value
    if fitted["clean"].predicts_ratings:
        for stage in ("attacked", "defended"):
            run[f"{stage}.prediction_shift"] = prediction_shift(
                fitted["clean"], fitted[stage], users, eligible, targets)
    return run


def _detect_run(labels: np.ndarray, detection: Detection) -> dict[str, float]:
    return {f"detect.{k}": v for k, v in detection_metrics(labels, detection).items()}


def _one_seed(dataset: Dataset, model: str, params: dict[str, Any], spec: AttackSpec,
              n_targets: int, test_fraction: float, supervised: SupervisedDetector | None,
              name: str, defence: str, threshold: float,
              lm: Any = None) -> tuple[dict[str, Any], SupervisedDetector | None]:
    seed = spec.seed
    split = random_holdout(dataset, test_fraction, seed=seed)
    train, test = split.train, split.test
    targets = pick_targets(train, n_targets, seed)
    chooser = None
    if spec.sampler == "llm" and lm is not None:
        from trustrec.robustness.llm_agent import LLMChooser

        chooser = LLMChooser(lm, train, seed=seed)
    attack = make_attack(train, targets, spec, model=chooser)
    users, eligible = audience(train, targets)
    attacked_train = attack.dataset
    if supervised is None and name in ("combined", "supervised"):
        # trained once, on the first seed's attacked data, then reused
        supervised = simulated_detector(attacked_train, sizes=(0.03,))
    detection = _detect(attacked_train, name, supervised, threshold)
    defended_train = drop_flagged(attacked_train, detection.flags) if defence == "drop" \
        else downweight(attacked_train, detection.flags.astype(float) if name in
                        ("outlier", "group") else detection.scores)
    attacked_test = in_space(test, attacked_train)
    run: dict[str, Any] = {"seed": seed, "targets": attack.to_dict()["targets"],
                           "n_fake": attack.n_fake, "n_pairs": int(eligible.sum()),
                           **{k: v for k, v in attack.info.items() if isinstance(v, str)}}
    run |= measure_stages(model, params, seed, None, lm, [
        ("clean", train, test), ("attacked", attacked_train, attacked_test),
        ("defended", defended_train, attacked_test)], users, eligible, targets)
    return run | _detect_run(attack.is_fake, detection), supervised


def _text_seed(dataset: Dataset, model: str, params: dict[str, Any], seed: int,
               n_targets: int, test_fraction: float, budget: int, n_candidates: int,
               encoder: MemoEncoder) -> dict[str, Any]:
    """One seed of the text attack: rewrite the targets' texts, detect manipulated texts,
    quarantine the flagged ones (original text restored), retrain."""
    split = random_holdout(dataset, test_fraction, seed=seed)
    train, test = split.train, split.test
    targets = pick_targets(train, n_targets, seed)
    users, eligible = audience(train, targets)
    clean = make_model(model, params, seed, encoder).fit(train)
    attacked_train, rewrites = text_attack(clean, train, targets, budget, n_candidates)
    fields = clean.config.fields()
    texts = build_item_texts(attacked_train.items, fields=fields)
    categories = attacked_train.items["genres"] if "genres" in attacked_train.items else None
    detection = text_detect(encoder.encode(texts), texts, categories)
    defended_train = quarantine(attacked_train, train, detection.flags)
    run: dict[str, Any] = {"seed": seed, "targets": train.item_index.to_external(
        targets).tolist(), "n_pairs": int(eligible.sum()),
        "drift": float(np.mean([r.drift for r in rewrites])),
        "similarity_gain": float(np.mean([r.similarity_after - r.similarity_before
                                          for r in rewrites])),
        "rewrites": [r.to_dict() for r in rewrites]}
    run |= measure_stages(model, params, seed, encoder, None, [
        ("clean", train, test), ("attacked", attacked_train, test),
        ("defended", defended_train, test)], users, eligible, targets)
    return run | _detect_run(np.isin(np.arange(train.n_items), targets), detection)


def audit_robustness(
    dataset: Dataset,
    model: str = "itemknn",
    attack: str = "average",
    size: float = 0.03,
    n_targets: int = 5,
    seeds: int = 3,
    *,
    params: dict[str, Any] | None = None,
    filler: float = 0.05,
    intent: str = "push",
    time_pattern: str = "spread",
    sampler: str = "auto",
    test_fraction: float = 0.2,
    detector: str = "combined",
    defence: str = "drop",
    threshold: float = 6.0,
    budget: int = 20,
    n_candidates: int = 60,
    encoder: Any = None,
    lm: Any = None,
    max_length: int = 300,
    query_budget: int = 8,
    on_progress: ProgressFn | None = None,
) -> RobustnessReport:
    """Attack ``model`` with ``attack`` at ``size`` on ``n_targets`` unpopular items for
    ``seeds`` seeds (0, 1, …); detect with ``detector`` (``threshold``: the outlier
    detector's), defend with ``defence`` and retrain. See the module docstring.

    ``attack="text"`` rewrites the targets' texts instead (``budget`` inserted words chosen
    among ``n_candidates``; ``model`` must use item text, e.g. content or hybrid), detects
    manipulated texts and quarantines them. ``encoder``: a ``TextEncoder`` to share.

    LLM attacks (``lm``: a ``LanguageModel``; None: the one ``TRUSTREC_LLM_*`` names):
    ``llm_text`` rewrites the targets' texts with black-box queries (``query_budget`` per
    target) against ``content``, ``hybrid`` or ``llm_rerank``; ``injection`` plants
    instructions in item text against ``llm_rerank`` (``model`` is ignored: the victim is
    ``llm_rerank`` with ``params``); ``llm_profiles`` is the ``generative`` attack with an
    LLM agent choosing the items (profiles of at most ``max_length`` items; see
    :mod:`trustrec.robustness.llm_audit`). ``on_progress(what, done, total)`` hears of every
    finished seed."""
    tell = on_progress or ignore
    if seeds < 1:
        raise ConfigError(f"seeds must be ≥ 1, got {seeds}")
    if attack == "text":
        return _text_audit(dataset, model, n_targets, seeds, dict(params or {}),
                           test_fraction, budget, n_candidates, encoder, tell)
    if attack in ("llm_text", "injection"):
        from trustrec.robustness import llm_audit

        lm = lm if lm is not None else _open_lm()
        if attack == "injection":
            return llm_audit.injection_audit(dataset, lm, seeds, params=params,
                                             test_fraction=test_fraction, on_progress=tell)
        if encoder is None:
            from trustrec.text import TextEncoder

            encoder = TextEncoder()
        return llm_audit.llm_text_audit(dataset, model, lm, encoder, n_targets, seeds,
                                        params=params, test_fraction=test_fraction,
                                        budget=query_budget, on_progress=tell)
    if attack == "llm_profiles":
        attack, sampler = "generative", "llm"
    if detector not in DETECTORS:
        raise ConfigError(f"detector must be one of {', '.join(DETECTORS)}; got {detector!r}")
    if defence not in DEFENCES:
        raise ConfigError(f"defence must be one of {', '.join(DEFENCES)}; got {defence!r}")
    specs = [AttackSpec(attack, size, filler, intent, time_pattern, sampler, seed, max_length)
             for seed in range(seeds)]
    runs = []
    trained: SupervisedDetector | None = None
    what = f"{attack} attack on {model}: seeds"
    tell(what, 0, seeds)
    for spec in specs:
        run, trained = _one_seed(dataset, model, dict(params or {}), spec, n_targets,
                                 test_fraction, trained, detector, defence, threshold, lm)
        runs.append(run)
        tell(what, len(runs), seeds)
    summary = mean_spread(runs)
    summary.pop("seed", None)
    settings = {"n_targets": n_targets, "seeds": seeds, "test_fraction": test_fraction,
                "detector": detector, "defence": defence, "threshold": threshold,
                "params": dict(params or {}),
                "dataset": dataset.summary()}
    return RobustnessReport(model, specs[0].to_dict() | {"seed": "0.." + str(seeds - 1)},
                            runs, summary, settings)


def _open_lm() -> Any:
    from trustrec.llm.settings import open_model

    return open_model()


def _text_audit(dataset: Dataset, model: str, n_targets: int, seeds: int,
                params: dict[str, Any], test_fraction: float, budget: int, n_candidates: int,
                encoder: Any, tell: ProgressFn) -> RobustnessReport:
    if not hasattr(create_model(model, params), "use_encoder"):
        raise ConfigError(f"attack 'text' needs a model that encodes item text (content, "
                          f"hybrid, linear); got '{model}'")
    if encoder is None:
        from trustrec.text import TextEncoder

        encoder = TextEncoder()
    memo = encoder if isinstance(encoder, MemoEncoder) else MemoEncoder(encoder)
    what = f"text attack on {model}: seeds"
    tell(what, 0, seeds)
    runs = []
    for seed in range(seeds):
        runs.append(_text_seed(dataset, model, params, seed, n_targets, test_fraction, budget,
                               n_candidates, memo))
        tell(what, seed + 1, seeds)
    summary = mean_spread(runs)
    summary.pop("seed", None)
    settings = {"n_targets": n_targets, "seeds": seeds, "test_fraction": test_fraction,
                "detector": "text", "defence": "quarantine", "params": params,
                "dataset": dataset.summary()}
    attack = {"kind": "text", "intent": "push", "budget": budget,
              "n_candidates": n_candidates, "seed": f"0..{seeds - 1}"}
    return RobustnessReport(model, attack, runs, summary, settings)
