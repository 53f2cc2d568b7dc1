"""Privacy benchmark on MovieLens: utility/privacy curve (DP-EASE, and NCF with DP-SGD when
registered), membership-inference AUC per model, federated vs centralised MF, unlearning.

    python benchmarks/privacy.py --data ../shared/data/ml-100k

Prints Markdown tables. Protocols: NDCG@10 on one random 80/20 holdout (seed 0, full
ranking of unseen items); membership attacks on four disjoint user quarters (target
members / non-members, shadow members / non-members; members train with their whole
history, non-members with a random half, the other half is what is attacked); federated
MF = 10 Flower clients of user shards, in-process FedAvg; unlearning = forget one user
(median over 5 users) vs a full retrain on the remaining data.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from trustrec.data import load_movielens
from trustrec.data.split import random_holdout
from trustrec.evaluation.protocol import evaluate_ranking
from trustrec.models import available_models, create_model
from trustrec.privacy.audit import audit_membership, unlearning_audit
from trustrec.privacy.unlearning import forget_users, without_users

EPSILONS = (1.0, 2.0, 4.0, 8.0, math.inf)


def ndcg(model, split) -> float:
    """NDCG@10 of a fitted model on the holdout."""
    return evaluate_ranking(model, split.train, split.test, k=10, n_boot=1).metrics["ndcg@10"]


def dp_curve(ds, split, ncf_epochs: int) -> None:
    """ε × model: NDCG@10 (loss vs the model's own non-private run) and attack AUCs."""
    print("| model | ε | NDCG@10 | loss vs non-private | threshold AUC | shadow AUC | fit s |")
    print("|---|---|---|---|---|---|---|")
    runs = [("dp_ease", lambda e: {"epsilon": e})]
    if "ncf" in available_models():
        runs.append(("ncf", lambda e: {"dp_epsilon": 0.0 if math.isinf(e) else e,
                                       "epochs": ncf_epochs}))
    for name, params in runs:
        base = None
        for eps in (math.inf, *EPSILONS[:-1]):  # the non-private run first: the baseline
            start = time.perf_counter()
            model = create_model(name, params(eps), seed=0).fit(split.train)
            seconds = time.perf_counter() - start
            threshold, shadow = audit_membership(ds, name, params(eps), seed=0)
            value = ndcg(model, split)
            base = value if base is None else base
            print(f"| {name} | {'∞' if math.isinf(eps) else f'{eps:g}'} | {value:.4f} | "
                  f"{(base - value) / base:+.1%} | {threshold.auc:.3f} | {shadow.auc:.3f} | "
                  f"{seconds:.1f} |", flush=True)
    ease = ndcg(create_model("ease", {}).fit(split.train), split)
    print(f"\nnon-private EASE (default l2=300, dropout 0.2): NDCG@10 {ease:.4f}\n")


def membership(ds, models: list[str]) -> None:
    """Attack AUC and TPR@1%FPR per model."""
    print("| model | threshold AUC | threshold TPR@1%FPR | shadow AUC | shadow TPR@1%FPR |")
    print("|---|---|---|---|---|")
    for name in models:
        threshold, shadow = audit_membership(ds, name, seed=0)
        print(f"| {name} | {threshold.auc:.3f} | {threshold.tpr_at_1pct_fpr:.3f} | "
              f"{shadow.auc:.3f} | {shadow.tpr_at_1pct_fpr:.3f} |")
    print()


def federated(split, rounds: int, clients: int) -> None:
    """Federated vs centralised implicit MF (same factors, regularisation, confidence)."""
    from trustrec.privacy.federated import FederatedConfig, train_federated

    print("| training | NDCG@10 | gap vs centralised | rounds | clients | MB up / round | "
          "MB down / round | s |")
    print("|---|---|---|---|---|---|---|---|")
    start = time.perf_counter()
    central = create_model("als", {"factors": 32, "regularization": 10.0, "alpha": 2.0},
                           seed=0).fit(split.train)
    base = ndcg(central, split)
    print(f"| centralised ALS | {base:.4f} | – | – | – | – | – | "
          f"{time.perf_counter() - start:.1f} |")
    for label, extra in (("federated (FedAvg)", {}),
                         ("federated + clip 1.0, noise ×0.5", {"clip": 1.0,
                                                               "noise_multiplier": 0.5})):
        start = time.perf_counter()
        result = train_federated(split.train, FederatedConfig(rounds=rounds, clients=clients,
                                                              **extra))
        seconds = time.perf_counter() - start
        value = ndcg(result.model, split)
        up = result.rounds[0]["bytes_up"] / 1e6
        down = result.rounds[0]["bytes_down"] / 1e6
        print(f"| {label} | {value:.4f} | {(value - base) / base:+.1%} | {rounds} | {clients} "
              f"| {up:.2f} | {down:.2f} | {seconds:.1f} |")
    print()


def unlearning(ds, models: list[str]) -> None:
    """Seconds to forget one user vs a full retrain, and the equality check."""
    print("| model | method | forget 1 user (s, median of 5) | full retrain (s) | speed-up | "
          "max score diff vs retrain |")
    print("|---|---|---|---|---|---|")
    users = ds.user_index.ids[np.random.default_rng(0).choice(ds.n_users, 5, replace=False)]
    for name in models:
        model = create_model(name, seed=0).fit(ds)
        times, diff, method = [], 0.0, ""
        for user in users:
            start = time.perf_counter()
            new, report = forget_users(model, [user])
            times.append(time.perf_counter() - start)
            method = report.method
        start = time.perf_counter()
        retrained = create_model(name, seed=0).fit(
            without_users(ds, ds.user_index.lookup([users[-1]])))
        retrain = time.perf_counter() - start
        all_users = np.arange(new.n_users_)
        diff = float(np.abs(new.score(all_users) - retrained.score(all_users)).max())
        med = float(np.median(times))
        print(f"| {name} | {method} | {med:.3f} | {retrain:.3f} | {retrain / med:.1f}× | "
              f"{diff:.2e} |")
    before, after = unlearning_audit(ds, "ease", seed=0)
    print(f"\nthreshold attack on EASE, members vs never-trained users: AUC {before.auc:.3f} "
          f"before forgetting the members, {after.auc:.3f} after.\n")


def main() -> None:
    """Parse arguments and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--parts", default="dp,membership,federated,unlearning")
    parser.add_argument("--models", default="popularity,itemknn,ease,als,mf")
    parser.add_argument("--ncf-epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--clients", type=int, default=10)
    args = parser.parse_args()
    ds = load_movielens(args.data).dataset
    split = random_holdout(ds, 0.2, seed=0)
    parts = args.parts.split(",")
    print(f"# privacy benchmark on {ds.name}: {len(ds):,} interactions, {ds.n_users:,} users, "
          f"{ds.n_items:,} items\n")
    if "dp" in parts:
        dp_curve(ds, split, args.ncf_epochs)
    if "membership" in parts:
        membership(ds, args.models.split(","))
    if "federated" in parts:
        federated(split, args.rounds, args.clients)
    if "unlearning" in parts:
        unlearning(ds, ["ease", "itemknn", "popularity", "als"])


if __name__ == "__main__":
    main()
