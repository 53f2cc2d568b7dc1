"""LLM attacks on MovieLens, each beside its reference measured in the same run, and the
co-rating group detector against the campaign shapes that evade it.

    nice python -m benchmarks.llm_attacks --data ../shared/data/ml-100k --seeds 1

Sections (``--parts``, comma-separated): ``group`` (average attack at 3 %, 5% filler:
5 targets at the maximum rating — the reference — against 2 targets, 1 target, and 5
targets rated 4; group and outlier detector F1/FPR), ``injection`` (``llm_rerank`` with an
EASE retriever, 5 candidates; success = the shortlist's last candidate comes first, per
template, undefended and with the sanitiser; once with the validated blend weight, once
with the weight fixed at 1; plus the detector's false alarms on the clean catalogue),
``text`` (``content`` victim: the LLM rewrite with black-box queries beside the greedy
word insertion; stage table and the drift alarm), ``profiles`` (LLM-agent fake profiles
beside Markov ones at the same size and length: outlier-detector F1 and target rank
shift on ``itemknn``). The language model is the one ``TRUSTREC_LLM_*`` names (the
bundled SmolLM2-135M by default); its answers are cached. Prints Markdown and the load.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from trustrec.data import load_movielens
from trustrec.robustness.attacks import profile_attack
from trustrec.robustness.audit import audit_robustness
from trustrec.robustness.detect import detection_metrics, group_detect, unsupervised_detect
from trustrec.robustness.specs import pick_targets


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def group_table(ds, seeds: int) -> None:
    """Group and outlier detectors on campaign shapes (module docstring)."""
    print("\n| average attack, 3 % | group F1 / FPR | outlier F1 / FPR |\n|---|---|---|")
    for label, n, rating in (("5 targets at 5 (reference)", 5, None), ("2 targets at 5", 2, None),
                             ("1 target at 5", 1, None), ("5 targets at 4", 5, 4.0)):
        rows = {"group": [], "outlier": []}
        for seed in range(seeds):
            attack = profile_attack(ds, pick_targets(ds, n, seed), "average", 0.03, 0.05,
                                    seed=seed, target_rating=rating)
            rows["group"].append(detection_metrics(attack.is_fake, group_detect(attack.dataset)))
            rows["outlier"].append(detection_metrics(attack.is_fake,
                                                     unsupervised_detect(attack.dataset)))
        cells = [f"{np.mean([r['f1'] for r in v]):.2f} / {np.mean([r['fpr'] for r in v]):.3f}"
                 for v in rows.values()]
        print(f"| {label} | {' | '.join(cells)} |", flush=True)


def injection_table(ds, lm, seeds: int) -> None:
    """Prompt injection success per template (module docstring)."""
    params = {"retriever": "ease:l2=300", "candidates": 5, "history_items": 5,
              "validation_users": 30}
    for label, extra in (("validated weight", {}), ("weight fixed at 1", {"weight": 1.0})):
        start = time.perf_counter()
        report = audit_robustness(ds, "llm_rerank", "injection", seeds=seeds, lm=lm,
                                  params={**params, **extra})
        weight = report.summary["weight"]["mean"]
        fpr = report.summary["detector_fpr_catalogue"]["mean"]
        print(f"\nllm_rerank, {label} (w = {weight:.2f}); detector false alarms on the clean "
              f"catalogue {fpr:.4f}; {time.perf_counter() - start:.0f} s; {_load()}")
        print("| template | success | success, defended | rank gain | rank gain, defended |")
        print("|---|---|---|---|---|")
        for row in report.injection_table():
            print(f"| {row['template']} | {row['success']:.2f} | {row['success_defended']:.2f} "
                  f"| {row['rank_gain']:.2f} | {row['rank_gain_defended']:.2f} |", flush=True)


def text_table(ds, lm, seeds: int, budget: int) -> None:
    """LLM rewrite beside greedy insertion on ``content`` (module docstring)."""
    from trustrec.robustness.text_attack import MemoEncoder
    from trustrec.text import TextEncoder

    encoder = MemoEncoder(TextEncoder(show_progress=False))
    print("\n| attack on content | HR@10 clean / attacked / defended | mean rank clean / "
          "attacked / defended | detector R / FPR | drift | extra | s |")
    print("|---|---|---|---|---|---|---|")
    for attack in ("text", "llm_text"):
        start = time.perf_counter()
        report = audit_robustness(ds, "content", attack, n_targets=2, seeds=seeds, lm=lm,
                                  encoder=encoder, budget=5, n_candidates=30,
                                  query_budget=budget)
        s = report.summary
        cells = [" / ".join(f"{s[f'{st}.{k}']['mean']:{f}}" for st in ("clean", "attacked",
                                                                     "defended"))
                 for k, f in (("target_hr@10", ".3f"), ("target_mean_rank", ".0f"))]
        extra = (f"ppl {s['perplexity_original']['mean']:.0f}→{s['perplexity_rewrite']['mean']:.0f}"
                 f", {s['edit_words']['mean']:.0f} words edited, {s['queries']['mean']:.0f} "
                 "queries") if attack == "llm_text" else "5 words inserted at most"
        print(f"| {attack} | {cells[0]} | {cells[1]} | {s['detect.recall']['mean']:.2f} / "
              f"{s['detect.fpr']['mean']:.3f} | {s['drift']['mean']:.3f} | {extra} | "
              f"{time.perf_counter() - start:.0f} |", flush=True)


def profiles_table(ds, lm, seeds: int, size: float, length: int) -> None:
    """LLM-agent profiles beside Markov ones (module docstring)."""
    print(f"\n| fake profiles ({size:.0%}, ≤ {length} items) on itemknn | outlier F1 / FPR | "
          "mean rank clean / attacked / defended | s |\n|---|---|---|---|")
    for attack, sampler in (("generative", "markov"), ("llm_profiles", "llm")):
        start = time.perf_counter()
        s = audit_robustness(ds, "itemknn", attack, size, 5, seeds, sampler=sampler, lm=lm,
                             max_length=length, detector="outlier").summary
        ranks = " / ".join(f"{s[f'{st}.target_mean_rank']['mean']:.0f}"
                           for st in ("clean", "attacked", "defended"))
        print(f"| {sampler} | {s['detect.f1']['mean']:.2f} / {s['detect.fpr']['mean']:.3f} | "
              f"{ranks} | {time.perf_counter() - start:.0f} |", flush=True)


def main() -> None:
    """Parse arguments and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="../shared/data/ml-100k")
    parser.add_argument("--parts", default="group,injection,text,profiles")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--budget", type=int, default=4, help="llm_text queries per target")
    parser.add_argument("--size", type=float, default=0.01)
    parser.add_argument("--length", type=int, default=15)
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    print(f"start: {_load()}")
    ds = load_movielens(args.data).dataset
    lm = None
    if parts - {"group"}:
        from trustrec.llm.settings import open_model

        lm = open_model()
        print(f"language model: {lm.model_id}")
    if "group" in parts:
        group_table(ds, max(args.seeds, 3))
    if "injection" in parts:
        injection_table(ds, lm, args.seeds)
    if "text" in parts:
        text_table(ds, lm, args.seeds, args.budget)
    if "profiles" in parts:
        profiles_table(ds, lm, args.seeds, args.size, args.length)
    print(f"\nend: {_load()}")


if __name__ == "__main__":
    main()
