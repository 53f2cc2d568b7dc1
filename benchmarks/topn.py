"""Top-N benchmark: trustrec's models side by side with implicit and LightFM on MovieLens.

Protocol (identical for every system):

* ``ml-latest-small`` and ``ml-100k`` from ``--data-dir`` (default ``$TRUSTREC_DATA_DIR``
  or ``../shared/data``); every rating is an implicit interaction of value 1 and the item
  catalogue is the set of rated items. Users with fewer than 5 ratings are dropped.
* Per-user random 80/20 holdout (:func:`trustrec.data.split.random_holdout`, seed 0).
* Tuning: a validation split carved from the training part only
  (:func:`~trustrec.data.split.validation_split`, 20 %, seed 1). Every configuration of a
  system's grid (at most 8 per system; 2 with ``--quick``) is fitted on the rest of the
  training part and scored on the validation part; the one with the best validation
  NDCG@10 (first on ties) is refitted on the whole training part and scored once on test.
* Every system returns top-10 lists for all users with training data, seen items
  excluded, ranked over all items. All lists, peers' included, are scored by the same
  :func:`trustrec.evaluation.evaluate_ranking`: NDCG@10, Recall@10, catalogue coverage
  and ARP (mean training popularity of the recommended items).
* ``fit s`` is the final fit on the training part, ``recommend-all s`` the top-10 lists for
  all users (best of ``--repeat`` runs): trustrec's ``recommend(users, k)``, implicit's
  batched ``recommend(userids, user_items, N)``, LightFM's ``predict`` once per user plus
  masking and top-10 selection (LightFM has no top-k API). Every system gets ``--threads``
  threads; LightFM's predict loop is also timed with one thread and the faster is shown
  (its OpenMP start-up per call makes one thread faster on a busy machine). BLAS pools are
  left as the environment sets them (``OPENBLAS_NUM_THREADS``) and printed with the tables.

Peers (implicit ALS / BPR / item-item, LightFM WARP) run in their own virtual environment
through ``benchmarks/peers/topn_peers.py``; they receive only the training index arrays
(``.npz``) and return lists and timings (``.npz`` / ``.json``), never held-out data.

Reproduce (full run; ``--quick`` for small grids, ``--datasets`` / ``--systems`` to select):

    .venv/bin/python benchmarks/topn.py --json topn.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import threadpoolctl

import trustrec
from trustrec.data import PAD, Dataset, Recommendations, load_movielens
from trustrec.data.split import keep_min_interactions, random_holdout, validation_split
from trustrec.evaluation import EvaluationResult, evaluate_ranking
from trustrec.models import available_models, create_model, get_model_class

K = 10
SEED = 0
DATASETS = ("ml-latest-small", "ml-100k")
PEERS_SCRIPT = Path(__file__).resolve().parent / "peers" / "topn_peers.py"
PEERS_PYTHON = "/root/.cache/trustrec-peers-venv/bin/python"
#: Targets from the issue: best trustrec NDCG@10 per dataset, EASE fit seconds.
NDCG_TARGETS = {"ml-latest-small": 0.37, "ml-100k": 0.45}
EASE_FIT_TARGET_S = 10.0

Grid = dict[str, list[Any]]


@dataclass(frozen=True)
class System:
    """One benchmarked system: a trustrec model (``model``) or a peer (``model`` None).

    ``grid`` is the full tuning grid (a product of value lists), ``quick`` the small one;
    ``fixed`` parameters are part of every configuration.
    """

    name: str
    library: str
    grid: Grid
    quick: Grid
    fixed: dict[str, Any] = field(default_factory=dict)
    model: str | None = None

    @property
    def is_peer(self) -> bool:
        """Whether the system runs in the peers' virtual environment."""
        return self.model is None

    def configs(self, quick: bool) -> list[dict[str, Any]]:
        """Every parameter combination of the (quick) grid, in a fixed order."""
        grid = self.quick if quick else self.grid
        return [{**dict(zip(grid, values, strict=True)), **self.fixed}
                for values in itertools.product(*grid.values())]


#: Item kNN, ALS and BPR get the same grid as their peer counterpart. Both ALS fix the
#: confidence of an interaction at 3, written ``alpha·r`` in implicit (alpha=3) and
#: ``1 + alpha·r`` in trustrec (alpha=2), so that the two grids are the same models.
#: trustrec's BPR trains on one thread unless ``deterministic`` is false; it is set false
#: so that it gets ``--threads`` as implicit's BPR does.
_SIMILARITY = ["cosine", "bm25"]
_NEIGHBOURS, _NEIGHBOURS_QUICK = [20, 50, 100, 200], [100]
_ALS: Grid = {"factors": [16, 32, 64, 128], "regularization": [10.0, 30.0]}
_ALS_QUICK: Grid = {"factors": [32, 64], "regularization": [10.0]}
_BPR: Grid = {"learning_rate": [0.001, 0.002, 0.005, 0.01], "iterations": [100, 200]}
_BPR_QUICK: Grid = {"learning_rate": [0.002, 0.005], "iterations": [100]}
_BPR_FIXED = {"factors": 64, "regularization": 0.02}

SYSTEMS: tuple[System, ...] = (
    System("popularity", "trustrec", {}, {}, model="popularity"),
    System("itemknn", "trustrec", {"similarity": _SIMILARITY, "k": _NEIGHBOURS},
           {"similarity": _SIMILARITY, "k": _NEIGHBOURS_QUICK}, model="itemknn"),
    System("ease", "trustrec", {"l2": [100.0, 250.0, 500.0, 1000.0], "dropout": [0.0, 0.25]},
           {"l2": [250.0, 500.0]}, model="ease"),
    System("als", "trustrec", _ALS, _ALS_QUICK, {"alpha": 2.0}, model="als"),
    System("bpr", "trustrec", _BPR, _BPR_QUICK, {**_BPR_FIXED, "deterministic": False},
           model="bpr"),
    System("implicit-itemknn", "implicit", {"similarity": _SIMILARITY, "K": _NEIGHBOURS},
           {"similarity": _SIMILARITY, "K": _NEIGHBOURS_QUICK}),
    System("implicit-als", "implicit", _ALS, _ALS_QUICK, {"alpha": 3.0}),
    System("implicit-bpr", "implicit", _BPR, _BPR_QUICK, _BPR_FIXED),
    System("lightfm-warp", "lightfm",
           {"no_components": [64, 128], "learning_rate": [0.01, 0.02], "epochs": [30, 60]},
           {"no_components": [64], "learning_rate": [0.02], "epochs": [10, 30]}),
)


# --------------------------------------------------------------------------- data
def default_data_dir() -> Path:
    """``$TRUSTREC_DATA_DIR`` or ``../shared/data`` beside the repository."""
    env = os.environ.get("TRUSTREC_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def load_interactions(data_dir: Path, name: str) -> Dataset:
    """All ratings of MovieLens folder ``name`` as implicit interactions (value 1), users
    with at least 5 ratings, over the catalogue of rated items."""
    rated = load_movielens(data_dir / name).dataset.to_frame()
    data = Dataset.from_frame(rated, value_col=None, explicit=False, name=name)
    return keep_min_interactions(data, min_user=5)


@dataclass(frozen=True)
class Parts:
    """The protocol's data: ``train``/``test`` (80/20) and, inside ``train``,
    ``fit``/``validation`` for tuning."""

    train: Dataset
    test: Dataset
    fit: Dataset
    validation: Dataset


def protocol_split(data: Dataset, seed: int = SEED) -> Parts:
    """Per-user random 80/20 holdout, then a 20 % validation split of the training part."""
    outer = random_holdout(data, test_fraction=0.2, seed=seed)
    inner = validation_split(outer.train, fraction=0.2, seed=seed + 1)
    return Parts(outer.train, outer.test, inner.train, inner.test)


# --------------------------------------------------------------------------- lists
@dataclass(frozen=True)
class Run:
    """A fitted system's top-k lists (n_users × k, PAD for users without training data)."""

    lists: np.ndarray
    fit_s: float
    recommend_s: float
    #: Recommend-all seconds per thread count, where several were timed (LightFM).
    recommend_s_by_threads: dict[str, float] = field(default_factory=dict)


class FixedLists:
    """A ranking model that serves precomputed lists, so every system is scored by the
    very same :func:`evaluate_ranking` call."""

    def __init__(self, lists: np.ndarray, train: Dataset) -> None:
        self.lists = lists
        self.train = train

    def recommend(self, users: np.ndarray, k: int, exclude_seen: bool = True,
                  candidates: np.ndarray | None = None) -> Recommendations:
        """The stored lists of ``users`` cut to ``k`` (seen items were excluded upstream)."""
        if not exclude_seen or candidates is not None or k > self.lists.shape[1]:
            raise ValueError("FixedLists serves only seen-excluded lists over all items")
        users = np.asarray(users, dtype=np.int32)
        items = self.lists[users, :k]
        scores = np.where(items == PAD, -np.inf, -np.arange(k, dtype=np.float32))
        return Recommendations(users=users, items=items, scores=scores.astype(np.float32),
                               user_index=self.train.user_index,
                               item_index=self.train.item_index)


def score(lists: np.ndarray, train: Dataset, test: Dataset, name: str) -> EvaluationResult:
    """Full-ranking top-k evaluation of ``lists`` (fitted on ``train``) on ``test``."""
    return evaluate_ranking(FixedLists(lists, train), train, test, K, seed=SEED, name=name)


def run_trustrec(name: str, params: dict[str, Any], train: Dataset, threads: int,
                 repeat: int) -> Run:
    """Fit trustrec model ``name`` on ``train``; time the fit and (best of ``repeat``) the
    top-k lists for all users."""
    values = dict(params)
    if "threads" in get_model_class(name).config_class.field_names():
        values["threads"] = threads
    model = create_model(name, values, seed=SEED)
    start = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - start
    users = np.flatnonzero(train.user_counts()).astype(np.int32)
    recommend_s = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        recs = model.recommend(users, k=K)
        recommend_s = min(recommend_s, time.perf_counter() - start)
    lists = np.full((train.n_users, K), PAD, dtype=np.int32)
    lists[users] = recs.items
    return Run(lists, fit_s, recommend_s)


@dataclass(frozen=True)
class PeerJob:
    """One peer fit: ``system`` with ``params`` on the training matrix named ``train``."""

    system: str
    params: dict[str, Any]
    train: str  # "fit" (tuning) or "train" (final)
    timed: bool  # final fits: recommend-all timed as the best of --repeat runs


def run_peers(jobs: list[PeerJob], parts: Parts, args: argparse.Namespace
              ) -> tuple[list[Run], dict[str, Any]]:
    """Run ``jobs`` in the peers' environment; their runs and that environment's report."""
    with tempfile.TemporaryDirectory(prefix="trustrec-topn-") as tmp:
        work = Path(tmp)
        arrays: dict[str, Any] = {"n_users": np.int64(parts.train.n_users),
                                  "n_items": np.int64(parts.train.n_items)}
        for name in ("fit", "train"):
            part = getattr(parts, name)
            arrays[f"{name}_user"], arrays[f"{name}_item"] = part.user, part.item
        np.savez(work / "data.npz", **arrays)
        spec = {"k": K, "threads": args.threads, "seed": SEED, "repeat": args.repeat,
                "jobs": [{"id": f"job{i}", "system": job.system, "params": job.params,
                          "train": job.train, "timed": job.timed}
                         for i, job in enumerate(jobs)]}
        (work / "jobs.json").write_text(json.dumps(spec))
        subprocess.run([args.peers_python, str(PEERS_SCRIPT), str(work)], check=True)
        report = json.loads((work / "peers.json").read_text())
        runs = []
        for i in range(len(jobs)):
            with np.load(work / f"job{i}.npz", allow_pickle=False) as out:
                timing = report["timings"][f"job{i}"]
                runs.append(Run(out["lists"], timing["fit_s"], timing["recommend_s"],
                                timing["recommend_s_by_threads"]))
    return runs, report["environment"]


# --------------------------------------------------------------------------- protocol
@dataclass
class Outcome:
    """What the benchmark found for one system on one dataset."""

    system: System
    validation: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    chosen: dict[str, Any] = field(default_factory=dict)
    run: Run | None = None
    result: EvaluationResult | None = None

    @property
    def best_validation(self) -> float:
        """Validation NDCG@10 of the chosen configuration."""
        return max(ndcg for _, ndcg in self.validation)

    @property
    def final(self) -> tuple[Run, EvaluationResult]:
        """The final run on the training part and its test result."""
        if self.run is None or self.result is None:
            raise RuntimeError(f"{self.system.name}: no final run yet")
        return self.run, self.result

    def metric(self, name: str) -> float:
        """Test value of metric ``name`` (e.g. ``ndcg@10``)."""
        return self.final[1].metrics[name]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (validation grid, chosen parameters, test result, timings)."""
        run, result = self.final
        return {"system": self.system.name, "library": self.system.library,
                "chosen": self.chosen,
                "validation": [{"params": p, "ndcg@10": v} for p, v in self.validation],
                "fit_s": run.fit_s, "recommend_s": run.recommend_s,
                "recommend_s_by_threads": run.recommend_s_by_threads,
                "test": result.to_dict()}


def log(message: str) -> None:
    """Progress on stderr (stdout carries only the tables)."""
    print(message, file=sys.stderr, flush=True)


def runs_for(systems: Iterable[System], configs: dict[str, list[dict[str, Any]]],
             train_name: str, parts: Parts, args: argparse.Namespace,
             env: dict[str, Any]) -> dict[str, list[Run]]:
    """Fit every configuration in ``configs`` of ``systems`` on ``parts.<train_name>``
    (recommend-all timed once when tuning, best of ``--repeat`` for the final fit)."""
    train = getattr(parts, train_name)
    final = train_name == "train"
    repeat = args.repeat if final else 1
    runs: dict[str, list[Run]] = {}
    jobs: list[PeerJob] = []
    for system in systems:
        if system.model is None:
            jobs += [PeerJob(system.name, params, train_name, timed=final)
                     for params in configs[system.name]]
            continue
        runs[system.name] = []
        for params in configs[system.name]:
            runs[system.name].append(run_trustrec(system.model, params, train, args.threads,
                                                  repeat))
            log(f"  {system.name} {params} on {train_name}: "
                f"fit {runs[system.name][-1].fit_s:.1f} s")
    if jobs:
        peer_runs, env["peers"] = run_peers(jobs, parts, args)
        for job, run in zip(jobs, peer_runs, strict=True):
            runs.setdefault(job.system, []).append(run)
    return runs


def benchmark(name: str, systems: list[System], args: argparse.Namespace,
              env: dict[str, Any]) -> tuple[dict[str, Any], list[Outcome]]:
    """Tune, refit and score ``systems`` on dataset ``name``: its summary and outcomes."""
    data = load_interactions(args.data_dir, name)
    parts = protocol_split(data)
    summary = {"users": int((data.user_counts() > 0).sum()), "items": data.n_items,
               "interactions": len(data), "train": len(parts.train), "test": len(parts.test),
               "validation_fit": len(parts.fit), "validation": len(parts.validation)}
    log(f"{name}: {summary}")
    outcomes = {s.name: Outcome(s) for s in systems}
    grids = {s.name: s.configs(args.quick) for s in systems}
    for sname, runs in runs_for(systems, grids, "fit", parts, args, env).items():
        for params, run in zip(grids[sname], runs, strict=True):
            ndcg = score(run.lists, parts.fit, parts.validation, sname).metrics[f"ndcg@{K}"]
            outcomes[sname].validation.append((params, ndcg))
        outcomes[sname].chosen = max(outcomes[sname].validation, key=lambda pv: pv[1])[0]
        log(f"  {sname}: chose {outcomes[sname].chosen} "
            f"(validation NDCG@10 {outcomes[sname].best_validation:.4f})")
    chosen = {s.name: [outcomes[s.name].chosen] for s in systems}
    for sname, (run,) in runs_for(systems, chosen, "train", parts, args, env).items():
        outcomes[sname].run = run
        outcomes[sname].result = score(run.lists, parts.train, parts.test, sname)
    return summary, [outcomes[s.name] for s in systems]


# --------------------------------------------------------------------------- output
def show_params(params: dict[str, Any]) -> str:
    """``a=1, b=x`` (or ``—`` when there is nothing to tune)."""
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in params.items()) or "—"


def table(name: str, summary: dict[str, Any], outcomes: list[Outcome]) -> str:
    """The Markdown table of one dataset."""
    lines = [f"### {name} ({summary['users']:,} users, {summary['items']:,} items, "
             f"{summary['train']:,} train / {summary['test']:,} test interactions)", "",
             "| system | library | chosen parameters | val NDCG@10 | NDCG@10 | Recall@10 "
             "| coverage | ARP | fit s | recommend-all s |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for o in outcomes:
        run, _ = o.final
        lines.append(
            f"| {o.system.name} | {o.system.library} | {show_params(o.chosen)} "
            f"| {o.best_validation:.4f} | {o.metric(f'ndcg@{K}'):.4f} "
            f"| {o.metric(f'recall@{K}'):.4f} | {o.metric('coverage'):.3f} "
            f"| {o.metric('arp'):.1f} | {run.fit_s:.2f} | {run.recommend_s:.3f} |")
    return "\n".join(lines)


def target_checks(results: dict[str, list[Outcome]]) -> list[str]:
    """The issue's targets, each as a line saying met / NOT met with the figures."""
    lines = []
    ndcg = f"ndcg@{K}"
    for name, outcomes in results.items():
        ours = [o for o in outcomes if not o.system.is_peer]
        by_name = {o.system.name: o for o in outcomes}
        if ours and name in NDCG_TARGETS:
            best = max(ours, key=lambda o: o.metric(ndcg))
            lines.append(f"{name}: best trustrec NDCG@10 {best.metric(ndcg):.4f} "
                         f"({best.system.name}) ≥ {NDCG_TARGETS[name]}: "
                         f"{verdict(best.metric(ndcg) >= NDCG_TARGETS[name])}")
        if "ease" in by_name and name == "ml-latest-small":
            fit_s = by_name["ease"].final[0].fit_s
            lines.append(f"{name}: ease fit {fit_s:.2f} s ≤ {EASE_FIT_TARGET_S:g} s: "
                         f"{verdict(fit_s <= EASE_FIT_TARGET_S)}")
        if ours and "lightfm-warp" in by_name:
            theirs = by_name["lightfm-warp"].final[0].recommend_s
            slowest = max(ours, key=lambda o: o.final[0].recommend_s)
            ours_s = slowest.final[0].recommend_s
            loops = ", ".join(f"{t:.3f} s with {n} thread(s)" for n, t in
                              by_name["lightfm-warp"].final[0].recommend_s_by_threads.items())
            lines.append(f"{name}: slowest trustrec recommend-all {ours_s:.3f} s "
                         f"({slowest.system.name}) < LightFM predict loop {theirs:.3f} s "
                         f"({loops}): {verdict(ours_s < theirs)}")
    return lines


def verdict(ok: bool) -> str:
    """``met`` or ``NOT met``."""
    return "met" if ok else "NOT met"


def trustrec_environment() -> dict[str, Any]:
    """Versions and thread pools of this (trustrec) process."""
    pools = [{key: api.get(key) for key in ("user_api", "internal_api", "num_threads",
                                              "version")}
             for api in threadpoolctl.threadpool_info()]
    return {"python": sys.version.split()[0], "trustrec": trustrec.__version__,
            "numpy": np.__version__, "thread_pools": pools,
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")}


def pool_note(env: dict[str, Any]) -> str:
    """One line naming each side's BLAS/OpenMP thread counts."""
    def pools(side: dict[str, Any]) -> str:
        return ", ".join(f"{p['internal_api']} {p['num_threads']}" for p in side["thread_pools"])
    note = f"trustrec: {pools(env['trustrec'])}"
    if "peers" in env:
        peers = env["peers"]
        note += (f"; peers (implicit {peers['implicit']}, LightFM {peers['lightfm']}): "
                 f"{pools(peers)}")
    return note


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    names = [s.name for s in SYSTEMS]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--systems", nargs="+", choices=names, default=names)
    parser.add_argument("--quick", action="store_true", help="small grids (≤ 2 configurations)")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads for every system, trustrec and peers alike")
    parser.add_argument("--repeat", type=int, default=3,
                        help="recommend-all seconds: best of this many runs")
    parser.add_argument("--peers-python", default=os.environ.get("TRUSTREC_PEERS_PYTHON",
                                                                 PEERS_PYTHON),
                        help="python of the peers' venv (implicit, LightFM)")
    parser.add_argument("--json", type=Path, help="also write all figures to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print one Markdown table per dataset, then the target checks."""
    args = parse_args(argv)
    registered = set(available_models())
    systems = []
    for system in SYSTEMS:
        if system.name not in args.systems:
            continue
        if system.model is not None and system.model not in registered:
            log(f"skipping {system.name}: model '{system.model}' is not registered")
            continue
        systems.append(system)
    env: dict[str, Any] = {"trustrec": trustrec_environment()}
    results, summaries = {}, {}
    for name in args.datasets:
        summaries[name], results[name] = benchmark(name, systems, args, env)
    grid = "quick grids" if args.quick else "full grids"
    print(f"Top-{K}, per-user random 80/20 (seed {SEED}), tuned on validation NDCG@{K}, "
          f"{grid}, {args.threads} threads.")
    print(f"Thread pools: {pool_note(env)}\n")
    for name in args.datasets:
        print(table(name, summaries[name], results[name]) + "\n")
    checks = target_checks(results)
    print("\n".join(f"- {line}" for line in checks))
    if args.json:
        out = {"command": " ".join(sys.argv), "k": K, "seed": SEED, "quick": args.quick,
               "threads": args.threads, "environment": env, "targets": checks,
               "datasets": {name: {"summary": summaries[name],
                                   "systems": [o.to_dict() for o in results[name]]}
                            for name in args.datasets}}
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
