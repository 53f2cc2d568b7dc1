"""Robustness benchmark: attack matrix (target HR@10 clean / attacked / defended, genuine
NDCG change) and leak-free detection (within and across attack families) on MovieLens.

    python benchmarks/robustness.py --data ../shared/data/ml-100k \
        --models itemknn,ease --attacks average,bandwagon,generative --sizes 0.01,0.05 --seeds 2

Prints Markdown tables. Protocol: random 80/20 holdout per seed, 5 unpopular targets
(25th–50th popularity percentile), push attacks with 5% filler and spread timestamps;
defence = drop the users flagged by the combined detector (a supervised detector the
defender trains on attacks it simulates on the attacked data, or the group detector), then
retrain. Figures are means over seeds. ``--models none`` or ``--detect none`` skip a part.
"""

from __future__ import annotations

import argparse
import time

from trustrec.data import load_movielens
from trustrec.robustness.audit import audit_robustness
from trustrec.robustness.detect import detection_metrics, group_detect, unsupervised_detect
from trustrec.robustness.leakfree import leak_free_detection
from trustrec.robustness.specs import PROFILE_KINDS, AttackSpec, make_attack, pick_targets


def attack_matrix(ds, models: list[str], attacks: list[str], sizes: list[float],
                  seeds: int) -> None:
    """Print the attack × model × size table."""
    print("| model | attack | size | HR@10 clean / attacked / defended | HR@50 clean / "
          "attacked / defended | mean target rank clean / attacked / defended | NDCG@10 "
          "clean / attacked / defended | detector P / R / FPR | s |")
    print("|" + "---|" * 9)
    for model in models:
        for attack in attacks:
            for size in sizes:
                start = time.perf_counter()
                s = audit_robustness(ds, model, attack, size, 5, seeds, sampler="markov").summary
                cells = [" / ".join(f"{s[f'{stage}.{key}']['mean']:{spec}}"
                                    for stage in ("clean", "attacked", "defended"))
                         for key, spec in (("target_hr@10", ".3f"), ("target_hr@50", ".3f"),
                                           ("target_mean_rank", ".0f"),
                                           ("genuine_ndcg@10", ".4f"))]
                detect = " / ".join(f"{s[f'detect.{k}']['mean']:.3f}"
                                    for k in ("precision", "recall", "fpr"))
                print(f"| {model} | {attack} | {size:.0%} | {' | '.join(cells)} | {detect} | "
                      f"{time.perf_counter() - start:.0f} |", flush=True)


def detection_tables(ds, kinds: list[str]) -> None:
    """Leak-free supervised detection: within family (other seeds and sizes) and across
    families (all other kinds), tested on a 3% attack with 5% filler."""
    print("\n| tested on | trained on | precision | recall | F1 | FPR | AUC |")
    print("|---|---|---|---|---|---|---|")
    for kind in kinds:
        test = AttackSpec(kind, 0.03, 0.05, sampler="markov", seed=0)
        within = [AttackSpec(kind, 0.01, 0.05, sampler="markov", seed=1),
                  AttackSpec(kind, 0.05, 0.05, sampler="markov", seed=2)]
        others = [AttackSpec(o, 0.03, 0.05, sampler="markov", seed=j + 1)
                  for j, o in enumerate(k for k in PROFILE_KINDS if k != kind)]
        for label, train in (("same family, sizes 1%/5%, other seeds", within),
                             ("other families", others)):
            r = leak_free_detection(ds, test, train)
            print(f"| {kind} | {label} | {r['precision']:.3f} | {r['recall']:.3f} | "
                  f"{r['f1']:.3f} | {r['fpr']:.3f} | {r['auc']:.3f} |", flush=True)


def unsupervised_table(ds, kinds: list[str], seeds: int) -> None:
    """Detectors that need no training (outlier, group), on 3% attacks with 5% filler."""
    print("\n| attack (3%) | detector | precision | recall | F1 | FPR | AUC |")
    print("|---|---|---|---|---|---|---|")
    for kind in kinds:
        rows: dict[str, list[dict[str, float]]] = {"outlier": [], "group": []}
        for seed in range(seeds):
            attack = make_attack(ds, pick_targets(ds, 5, seed),
                                 AttackSpec(kind, 0.03, 0.05, sampler="markov", seed=seed))
            rows["outlier"].append(detection_metrics(attack.is_fake,
                                                     unsupervised_detect(attack.dataset)))
            rows["group"].append(detection_metrics(attack.is_fake, group_detect(attack.dataset)))
        for name, runs in rows.items():
            mean = {k: sum(r[k] for r in runs) / len(runs) for k in runs[0]}
            print(f"| {kind} | {name} | {mean['precision']:.3f} | {mean['recall']:.3f} | "
                  f"{mean['f1']:.3f} | {mean['fpr']:.3f} | {mean['auc']:.3f} |", flush=True)


def _skip_detection(kinds: str) -> list[str]:
    return [] if kinds == "none" else kinds.split(",")


def main() -> None:
    """Parse arguments and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="../shared/data/ml-100k")
    parser.add_argument("--models", default="popularity,itemknn,ease,als")
    parser.add_argument("--attacks", default="random,average,bandwagon,segment,generative")
    parser.add_argument("--sizes", default="0.01,0.03,0.05")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--detect", default="random,average,bandwagon,segment,generative",
                        help="families for the detection tables ('none': skip)")
    args = parser.parse_args()
    ds = load_movielens(args.data).dataset
    if args.models != "none":
        attack_matrix(ds, args.models.split(","), args.attacks.split(","),
                      [float(s) for s in args.sizes.split(",")], args.seeds)
    kinds = _skip_detection(args.detect)
    if kinds:
        unsupervised_table(ds, kinds, args.seeds)
        detection_tables(ds, kinds)


if __name__ == "__main__":
    main()
