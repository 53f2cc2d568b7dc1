"""Fairness benchmark (issue #7) on MovieLens 100K with its user table ``u.user``.

Protocol. Every rating is an interaction; per-user random 80/20 holdout (seed 0) of the
users with ≥ 5 ratings; full ranking of all unseen items, k = 10
(:func:`trustrec.fairness.audit_fairness`, i.e. :func:`trustrec.evaluation.evaluate_ranking`
plus the item side). User groups: ``gender``, age bands (``<18 … 55+``) and activity
terciles; each gap is also measured within activity terciles ("at equal activity").
Intervals: 95 % percentile bootstrap over users; gap p-values: permutation test of max − min
group mean (1000 relabellings). Long tail: all but the 20 % most popular items.

Mitigation weights are chosen on a validation split carved from the training part (20 % of
each user's training interactions, seed 1) and never on the test set: for each model and
each target, the weight (grid 0.1 … 0.9) with the best target value whose validation
NDCG@10 stays within 5 % of the unmitigated model's; then the model is refitted on the
whole training part and both lists are audited on the test part.

* gap target: ``groupboost`` boosting the group the validation audit found worst, for the
  gender gap and for the age gap; target: gap reduced ≥ 50 % with ≤ 5 % NDCG@10 loss;
* long tail: ``xquad`` (smooth, head/tail); target: APLT@10 at least doubled, ≤ 5 % loss;
* explanation fidelity: share of 200 users (seed 0) for whom removing the top-cited history
  item lowers their first recommendation's score more than removing a random one
  (target ≥ 80 %);
* frontier: every re-ranker at weights 0 … 0.8 for ``ease`` on the test part.

Reproduce: ``nice .venv/bin/python benchmarks/fairness.py`` (``--quick``: popularity, ease
and als only, no frontier; ``--json FILE`` also writes the figures).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trustrec.data import Dataset, load_movielens
from trustrec.data.split import keep_min_interactions, random_holdout, validation_split
from trustrec.explain import explanation_fidelity
from trustrec.fairness import (
    MMR,
    Calibrated,
    FairnessReport,
    GroupBoost,
    RerankedModel,
    Reranker,
    UserGroups,
    XQuadLongTail,
    audit_fairness,
    sweep,
    user_groups,
)
from trustrec.models import Recommender, create_model

K = 10
SEED = 0
NDCG = f"ndcg@{K}"
MAX_LOSS = 0.05
WEIGHTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
MODELS = ("popularity", "itemknn", "ease", "als", "hybrid")
N_CANDIDATES = 100


def _data_dir(given: str | None) -> Path:
    here = Path(__file__).resolve().parents[2] / "shared" / "data"
    path = Path(given or os.environ.get("TRUSTREC_DATA_DIR") or here)
    if not (path / "ml-100k" / "u.user").is_file():
        sys.exit(f"ML-100K with u.user not found under {path}")
    return path / "ml-100k"


def _groups(train: Dataset) -> list[UserGroups]:
    return [user_groups(train, "gender"), user_groups(train, "age"),
            user_groups(train, "activity")]


def _audit(model: Any, train: Dataset, test: Dataset, n_perm: int = 1000) -> FairnessReport:
    return audit_fairness(model, train, test, _groups(train), K, seed=SEED, n_perm=n_perm)


def _choose(points: list[tuple[float, FairnessReport]], base: FairnessReport,
            value: Callable[[FairnessReport], float]) -> float:
    """The weight with the best (largest) ``value`` whose NDCG stays within MAX_LOSS."""
    floor = (1 - MAX_LOSS) * base.metrics[NDCG]
    ok = [(value(r), w) for w, r in points if r.metrics[NDCG] >= floor]
    return max(ok)[1] if ok else 0.0


def _gap(report: FairnessReport, column: str) -> float:
    return report.groups[column].gaps[NDCG].absolute


def _row(model: str, what: str, before: FairnessReport, after: FairnessReport, weight: float,
         column: str | None) -> dict[str, Any]:
    b, a = before.metrics, after.metrics
    row: dict[str, Any] = {"model": model, "mitigation": what, "weight": weight,
                           "ndcg": b[NDCG], "ndcg_after": a[NDCG],
                           "ndcg_ci": before.intervals[NDCG], "ndcg_after_ci":
                           after.intervals[NDCG],
                           "ndcg_change": a[NDCG] / b[NDCG] - 1}
    for key in ("aplt", "coverage", "gini", "arp"):
        row[key], row[f"{key}_after"] = b[key], a[key]
    if column:
        gb, ga = before.groups[column].gaps[NDCG], after.groups[column].gaps[NDCG]
        row.update(group=column, worst=gb.worst, best=gb.best, gap=gb.absolute,
                   gap_adjusted=gb.adjusted, gap_after_adjusted=ga.adjusted,
                   gap_p=gb.p_value, gap_after=ga.absolute, gap_after_p=ga.p_value,
                   gap_change=ga.absolute / gb.absolute - 1 if gb.absolute else float("nan"),
                   groups_before=before.groups[column].rows,
                   groups_after=after.groups[column].rows)
    return row


def run_model(name: str, make: Callable[[str], Recommender], full_train: Dataset,
              val_train: Dataset, val_test: Dataset, test: Dataset) -> dict[str, Any]:
    """Choose weights on validation, audit before/after on test, fidelity."""
    start = time.perf_counter()
    val_model = make(name).fit(val_train)
    val_base = _audit(val_model, val_train, val_test, n_perm=200)
    model = make(name).fit(full_train)
    base = _audit(model, full_train, test)
    rows = []
    xquad = XQuadLongTail().fit(val_train)
    points = [(p.weight, p.report) for p in sweep(val_model, xquad, WEIGHTS, val_train, val_test,
                                                  _groups(val_train), K, n_perm=50)]
    w = _choose(points, val_base, lambda r: r.metrics["aplt"])
    after = _audit(RerankedModel(model, XQuadLongTail(w).fit(full_train), N_CANDIDATES),
                   full_train, test)
    rows.append(_row(name, "xquad", base, after, w, None))
    for column in ("gender", "age"):
        groups = next(g for g in _groups(val_train) if g.column == column)
        boost = GroupBoost.for_gap(groups, val_base.groups[column], NDCG).fit(val_train)
        points = [(p.weight, p.report) for p in sweep(val_model, boost, WEIGHTS, val_train,
                                                      val_test, [groups], K, n_perm=50)]
        w = _choose(points, val_base, lambda r, c=column: -_gap(r, c))
        target = [val_base.groups[column].gaps[NDCG].worst]
        full_groups = next(g for g in _groups(full_train) if g.column == column)
        fair = GroupBoost(full_groups, target, w).fit(full_train)
        after = _audit(RerankedModel(model, fair, N_CANDIDATES), full_train, test)
        rows.append(_row(name, f"groupboost[{target[0]}]", base, after, w, column))
    fidelity = None
    if name != "popularity":
        fidelity = explanation_fidelity(model, n_users=200, seed=SEED)
    return {"model": name, "rows": rows, "fidelity": fidelity, "base": base.to_dict(),
            "seconds": time.perf_counter() - start, "fitted": model}


def frontier(model: Recommender, train: Dataset, test: Dataset) -> list[dict[str, Any]]:
    """Every re-ranker at a few weights on the test part (for the plot, not for choosing)."""
    groups = _groups(train)
    makers: list[Reranker] = [MMR(), Calibrated(), XQuadLongTail()]
    gender = groups[0]
    worst = _audit(model, train, test, n_perm=50).groups["gender"].gaps[NDCG].worst
    makers.append(GroupBoost(gender, [worst]))
    rows = []
    for reranker in makers:
        for p in sweep(model, reranker.fit(train), (0.0, 0.2, 0.4, 0.6, 0.8), train, test,
                       groups, K, n_perm=50):
            rows.append(p.row())
    return rows


def _fmt(x: float) -> str:
    return f"{x:.4f}" if abs(x) < 10 else f"{x:.1f}"


def print_tables(results: list[dict[str, Any]], front: list[dict[str, Any]]) -> None:
    """Markdown tables of the figures."""
    print("\n### Group gaps in NDCG@10 (test; weight chosen on validation)\n")
    print("| model | groups | worst / best | gap before (p) | at equal activity | mitigation (w) "
          "| gap after (p) | gap change | NDCG@10 before [95% CI] | after [95% CI] "
          "| NDCG change |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for res in results:
        for r in res["rows"]:
            if "group" not in r:
                continue
            print(f"| {r['model']} | {r['group']} | {r['worst']} / {r['best']} | "
                  f"{_fmt(r['gap'])} ({r['gap_p']:.3f}) | {_fmt(r['gap_adjusted'])} | "
                  f"{r['mitigation']} ({r['weight']:g}) "
                  f"| {_fmt(r['gap_after'])} ({r['gap_after_p']:.3f}) | "
                  f"{100 * r['gap_change']:+.0f}% | {_fmt(r['ndcg'])} "
                  f"[{_fmt(r['ndcg_ci'][0])}, {_fmt(r['ndcg_ci'][1])}] | {_fmt(r['ndcg_after'])} "
                  f"[{_fmt(r['ndcg_after_ci'][0])}, {_fmt(r['ndcg_after_ci'][1])}] | "
                  f"{100 * r['ndcg_change']:+.1f}% |")
    print("\n### Long tail (test; xquad weight chosen on validation)\n")
    print("| model | w | APLT@10 before → after | × | coverage before → after "
          "| Gini before → after | ARP before → after | NDCG@10 change |")
    print("|---|---|---|---|---|---|---|---|")
    for res in results:
        for r in res["rows"]:
            if r["mitigation"] != "xquad":
                continue
            ratio = f"{r['aplt_after'] / r['aplt']:.2f}" if r["aplt"] else "–"
            print(f"| {r['model']} | {r['weight']:g} | {_fmt(r['aplt'])} → "
                  f"{_fmt(r['aplt_after'])} | {ratio} | {_fmt(r['coverage'])} → "
                  f"{_fmt(r['coverage_after'])} | {_fmt(r['gini'])} → {_fmt(r['gini_after'])} "
                  f"| {_fmt(r['arp'])} → {_fmt(r['arp_after'])} | "
                  f"{100 * r['ndcg_change']:+.1f}% |")
    print("\n### Explanation fidelity (200 users)\n")
    print("| model | rate | users | ties |")
    print("|---|---|---|---|")
    for res in results:
        f = res["fidelity"]
        if f:
            print(f"| {res['model']} | {100 * f['rate']:.1f}% | {f['n']} | {f['ties']} |")
    if front:
        print("\n### Frontier: ease re-ranked on the test part\n")
        print("| re-ranker | weight | NDCG@10 | APLT@10 | coverage | Gini | calibration KL "
              "| gender gap | age gap |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in front:
            print(f"| {r['method']} | {r['weight']:g} | {_fmt(r[NDCG])} | {_fmt(r['aplt'])} | "
                  f"{_fmt(r['coverage'])} | {_fmt(r['gini'])} | {_fmt(r['calibration_kl'])} | "
                  f"{_fmt(r['gap_gender'])} | {_fmt(r['gap_age'])} |")


def main() -> None:
    """Run the benchmark and print Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", nargs="*")
    parser.add_argument("--json")
    args = parser.parse_args()
    data = keep_min_interactions(load_movielens(_data_dir(args.data_dir)).dataset, min_user=5)
    parts = random_holdout(data, 0.2, seed=SEED)
    val = validation_split(parts.train, 0.2, seed=1)
    encoder = None

    def make(name: str) -> Recommender:
        nonlocal encoder
        model = create_model(name, seed=SEED)
        if hasattr(model, "use_encoder"):
            if encoder is None:
                from trustrec.text import TextEncoder

                encoder = TextEncoder()
            model.use_encoder(encoder)
        return model

    names = args.models or (("popularity", "ease", "als") if args.quick else MODELS)
    results = []
    for name in names:
        res = run_model(name, make, parts.train, val.train, val.test, parts.test)
        print(f"{name}: {res['seconds']:.0f}s", file=sys.stderr, flush=True)
        results.append(res)
    ease = next((r["fitted"] for r in results if r["model"] == "ease"), None)
    front = [] if args.quick or ease is None else frontier(ease, parts.train, parts.test)
    print_tables(results, front)
    if args.json:
        for r in results:
            r.pop("fitted")
        Path(args.json).write_text(json.dumps({"results": results, "frontier": front},
                                              indent=1, default=float))


if __name__ == "__main__":
    main()
