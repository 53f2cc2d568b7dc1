"""Cold-start and warm top-N benchmark of ``hybrid`` (issue #3) on MovieLens.

Data: ``ml-latest-small`` (ratings, movies, tags) and ``ml-100k`` from ``--data-dir``
(default ``$TRUSTREC_DATA_DIR`` or ``../shared/data``), loaded with
:func:`trustrec.data.movielens.load_movielens`; the catalogue is the set of rated items,
with their item table (titles, genres, tags). Every rating counts as an interaction.

* **Cold items.** 20 % of the items with at least 5 ratings (seed 0) are held out with all
  their ratings; models are fitted on the rest. Every user with a held-out rating gets a
  top-10 list over the held-out items only (``recommend(users, 10, candidates=...)``),
  scored by :func:`trustrec.evaluation.ranking_metrics` (NDCG@10, Recall@10; intervals:
  percentile bootstrap over users). Systems: random lists (seeded), ``content`` (cosine of
  the user's rating-centred profile and the item text vectors), ``hybrid``, and LightFM
  WARP with genres, lower-cased title words and tags as item features (no identity
  features; rows normalised to sum 1), run by ``benchmarks/peers/coldstart_peers.py`` in
  the peers' environment (``--peers-python``; skipped if it is missing) and tuned like
  ``hybrid (tuned)``: learning rate and epochs on the validation split, then refitted.
* **Warm items.** Users with at least 5 ratings, per-user random 80/20 holdout (seed 0),
  full ranking over all items with seen items excluded,
  :func:`trustrec.evaluation.evaluate_ranking`. Systems: ``popularity``, ``ease``,
  ``als`` (their defaults, chosen on validation by their authors) and ``hybrid``.

Tuning never sees a test set: ``hybrid (tuned)`` picks from a small grid the configuration
with the best NDCG@10 on a validation split carved from the training part the same way
(cold: 20 % of the training part's items with ≥ 5 ratings, seed 1; warm: 20 % of each
user's training interactions, seed 1), then refits on the whole training part.
``hybrid`` alone means its defaults, themselves chosen on such validation splits. Ablation
rows switch off feature blocks (cold) or parts of the model (warm). One ``TextEncoder``
(``--cache-dir`` for its embedding cache) serves every model.

Reproduce: ``.venv/bin/python benchmarks/coldstart.py`` (``--quick``: no tuning, no
ablations; ``--json FILE`` also writes the figures).
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
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from trustrec.data import Dataset, load_movielens
from trustrec.data.split import Split, keep_min_interactions, random_holdout, validation_split
from trustrec.evaluation import bootstrap_ci, evaluate_ranking, ranking_metrics
from trustrec.models import Recommender, create_model

K = 10
SEED = 0
COLD_FRACTION = 0.2
MIN_RATINGS = 5
#: Figures measured by others on the same cold-item protocol (ml-latest-small).
REFERENCE = {"random": 0.041, "LightFM WARP, genres + title": 0.211,
             "LightFM WARP, genres + title + tags": 0.273}
COLD_TARGET = 0.33
#: Tuning grids of ``hybrid``: cold ranking depends only on the content regression and the
#: features; warm ranking mostly on the blend and the feature weight in B.
COLD_GRID = {"content_l2": [10.0, 30.0, 100.0], "attribute_weight": [0.5, 1.0]}
WARM_GRID = {"feature_weight": [3.0, 10.0], "content_blend": [0.35, 0.5, 0.65]}
COLD_ABLATIONS = {"hybrid, text only": {"attribute_weight": 0.0, "tag_weight": 0.0},
                  "hybrid, genres + tags only": {"text_weight": 0.0}}
PEERS_SCRIPT = Path(__file__).resolve().parent / "peers" / "coldstart_peers.py"
PEERS_PYTHON = "/root/.cache/trustrec-peers-venv/bin/python"
LIGHTFM = "LightFM WARP, genres + title words + tags (tuned)"
LIGHTFM_GRID = [{"no_components": 64, "learning_rate": rate, "item_alpha": 0.0}
                for rate in (0.05, 0.1)]
LIGHTFM_EPOCHS = [10, 20, 40, 80]
WARM_ABLATIONS = {"hybrid, CEASE only (content_blend=0)": {"content_blend": 0.0},
                  "hybrid, EASE + content (feature_weight=0)": {"feature_weight": 0.0}}


@dataclass(frozen=True)
class Row:
    """One line of a result table."""

    system: str
    params: dict[str, Any]
    ndcg: float
    ndcg_ci: tuple[float, float]
    recall: float
    fit_s: float
    validation_ndcg: float | None = None


# --------------------------------------------------------------------------- data
def default_data_dir() -> Path:
    """``$TRUSTREC_DATA_DIR`` or ``../shared/data`` beside the repository."""
    env = os.environ.get("TRUSTREC_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def load(data_dir: Path, name: str) -> Dataset:
    """MovieLens folder ``name``: its ratings over the catalogue of rated items, with the
    item table (titles, genres, tags)."""
    full = load_movielens(data_dir / name).dataset
    rated = full.item_counts() > 0
    return Dataset.from_frame(full.to_frame(), items=full.items[rated].reset_index(drop=True),
                              name=name)


def cold_item_split(data: Dataset, seed: int) -> tuple[Split, np.ndarray]:
    """All ratings of ``COLD_FRACTION`` of the items with ≥ ``MIN_RATINGS`` ratings (drawn
    like :func:`trustrec.data.split.cold_item_holdout`) to test; the held-out items."""
    active = np.flatnonzero(data.item_counts() >= MIN_RATINGS)
    n = int(np.floor(COLD_FRACTION * len(active) + 0.5))
    cold = np.sort(np.random.default_rng(seed).choice(active, size=n, replace=False))
    test = np.isin(data.item, cold)
    return Split(train=data.filter(~test), test=data.filter(test), name="cold-item"), cold


# --------------------------------------------------------------------------- measuring
def cold_scores(lists: np.ndarray, test: Dataset,
                users: np.ndarray) -> tuple[float, tuple[float, float], float]:
    """Mean NDCG@K (with its bootstrap interval) and Recall@K of ``lists`` (rows: ``users``)."""
    relevant = test.csr[users]
    per_user = ranking_metrics(lists, relevant, K)
    ndcg = per_user[f"ndcg@{K}"]
    return float(ndcg.mean()), bootstrap_ci(ndcg, seed=SEED), float(
        per_user[f"recall@{K}"].mean())


def cold_run(model: Recommender, split: Split, cold: np.ndarray) -> Row:
    """Fit ``model`` on the training part; rank the held-out items for every test user."""
    start = time.perf_counter()
    model.fit(split.train)
    fit_s = time.perf_counter() - start
    users = np.unique(split.test.user)
    lists = model.recommend(users, K, candidates=cold).items
    return Row(model.name, model.config.to_dict(), *cold_scores(lists, split.test, users),
               fit_s=fit_s)


def warm_run(model: Recommender, split: Split) -> Row:
    """Fit ``model`` on the training part; full-ranking evaluation on the test part."""
    start = time.perf_counter()
    model.fit(split.train)
    fit_s = time.perf_counter() - start
    result = evaluate_ranking(model, split.train, split.test, K, seed=SEED)
    return Row(model.name, model.config.to_dict(), result.metrics[f"ndcg@{K}"],
               result.intervals[f"ndcg@{K}"], result.metrics[f"recall@{K}"], fit_s)


Maker = Callable[[dict[str, Any]], Recommender]
Runner = Callable[[Recommender], Row]


def tuned(make: Maker, grid: dict[str, list[Any]], validate: Runner, final: Runner,
          label: str) -> Row:
    """The grid's best configuration by validation NDCG@K (first on ties), refitted."""
    best, best_ndcg = {}, -1.0
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid, values, strict=True))
        ndcg = validate(make(params)).ndcg
        log(f"  {label} {params}: validation NDCG@{K} {ndcg:.4f}")
        if ndcg > best_ndcg:
            best, best_ndcg = params, ndcg
    row = final(make(best))
    return Row(label, best, row.ndcg, row.ndcg_ci, row.recall, row.fit_s, best_ndcg)


def named(row: Row, system: str, params: dict[str, Any] | None = None) -> Row:
    """``row`` relabelled (and showing only ``params``)."""
    return Row(system, row.params if params is None else params, row.ndcg, row.ndcg_ci,
               row.recall, row.fit_s, row.validation_ndcg)


def random_row(split: Split, cold: np.ndarray) -> Row:
    """Uniformly random lists over the held-out items (seeded)."""
    users = np.unique(split.test.user)
    order = np.argsort(np.random.default_rng(SEED).random((len(users), len(cold))), axis=1)
    return Row("random", {}, *cold_scores(cold[order[:, :K]], split.test, users), fit_s=0.0)


# --------------------------------------------------------------------------- LightFM
def lightfm_features(items: pd.DataFrame) -> sp.csr_matrix:
    """Items × features (rows sum to 1): each genre, lower-cased title word and tag."""
    parts = [("genre:", items["genres"].str.split("|")),
             ("title:", items["title"].str.lower().str.findall(r"[a-z0-9']+"))]
    if "tags" in items.columns:
        parts.append(("tag:", items["tags"].str.lower().str.split(", ")))
    pairs = pd.concat([pd.DataFrame({"row": values.index, "feature": prefix + values.str.strip()})
                       for prefix, lists in parts
                       for values in [lists.explode().dropna()]]).drop_duplicates()
    pairs = pairs[~pairs["feature"].isin(["genre:", "tag:", "genre:(no genres listed)"])]
    codes, names = pd.factorize(pairs["feature"])
    matrix = sp.csr_matrix((np.ones(len(pairs)), (pairs["row"].to_numpy(), codes)),
                           shape=(len(items), len(names)))
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    return sp.csr_matrix(sp.diags(1.0 / np.maximum(sums, 1.0)) @ matrix)


def run_peer_jobs(work: Path, jobs: list[dict[str, Any]], threads: int,
                  peers_python: str) -> dict[str, float]:
    """Run LightFM ``jobs`` on ``WORK/data.npz`` in the peers' environment; fit seconds."""
    (work / "jobs.json").write_text(json.dumps({"k": K, "threads": threads, "seed": SEED,
                                                "jobs": jobs}))
    subprocess.run([peers_python, str(PEERS_SCRIPT), str(work)], check=True)
    return json.loads((work / "peers.json").read_text())["fit_s"]


def lightfm_row(data: Dataset, outer: Split, cold: np.ndarray, threads: int,
                peers_python: str) -> Row:
    """LightFM WARP with item features: learning rate and epochs picked on a cold-item split
    of the training part, refitted on the whole training part."""
    assert data.items is not None
    inner, val_cold = cold_item_split(outer.train, SEED + 1)
    features = lightfm_features(data.items)
    arrays: dict[str, np.ndarray] = {
        "n_users": np.asarray(data.n_users), "n_items": np.asarray(data.n_items),
        "features_data": features.data.astype(np.float32), "features_indices": features.indices,
        "features_indptr": features.indptr, "n_features": np.asarray(features.shape[1])}
    splits = {"val": (inner, val_cold), "test": (outer, cold)}
    for name, (split, held) in splits.items():
        arrays.update({f"{name}_user": split.train.user, f"{name}_item": split.train.item,
                       f"{name}_users": np.unique(split.test.user).astype(np.int32),
                       f"{name}_cold": held.astype(np.int32)})

    def scores(work: Path, job: str, name: str) -> tuple[float, tuple[float, float], float]:
        with np.load(work / f"{job}.npz", allow_pickle=False) as result:
            lists = result["lists"]
        return cold_scores(lists, splits[name][0].test, arrays[f"{name}_users"])

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        np.savez(work / "data.npz", **arrays)
        jobs = [{"id": f"val{i}", "split": "val", "params": p, "epochs": LIGHTFM_EPOCHS}
                for i, p in enumerate(LIGHTFM_GRID)]
        run_peer_jobs(work, jobs, threads, peers_python)
        val = {(i, e): scores(work, f"val{i}-{e}", "val")[0]
               for i in range(len(LIGHTFM_GRID)) for e in LIGHTFM_EPOCHS}
        for (i, e), ndcg in val.items():
            log(f"  LightFM {LIGHTFM_GRID[i]}, {e} epochs: validation NDCG@{K} {ndcg:.4f}")
        best, epochs = max(val, key=lambda key: val[key])
        fit = run_peer_jobs(work, [{"id": "test", "split": "test", "params": LIGHTFM_GRID[best],
                                    "epochs": [epochs]}], threads, peers_python)
        ndcg, ci, recall = scores(work, f"test-{epochs}", "test")
    params = {**LIGHTFM_GRID[best], "epochs": epochs, "features": features.shape[1]}
    return Row(LIGHTFM, params, ndcg, ci, recall, fit[f"test-{epochs}"], val[best, epochs])


# --------------------------------------------------------------------------- benchmarks
def cold_benchmark(data: Dataset, make: Maker, quick: bool,
                   lightfm: tuple[int, str] | None = None) -> tuple[list[Row], dict[str, Any]]:
    """Rows of the cold-item table and a summary of the split; ``lightfm``: (threads,
    peers' python) to add the LightFM row."""
    outer, cold = cold_item_split(data, SEED)
    summary = {"cold_items": len(cold), "test_users": len(np.unique(outer.test.user)),
               "train_interactions": len(outer.train), "test_interactions": len(outer.test)}
    rows = [random_row(outer, cold),
            named(cold_run(make({"model": "content"}), outer, cold), "content", {})]
    rows.append(named(cold_run(make({}), outer, cold), "hybrid", {}))
    if not quick:
        inner, val_cold = cold_item_split(outer.train, SEED + 1)
        rows.append(tuned(make, COLD_GRID, lambda m: cold_run(m, inner, val_cold),
                          lambda m: cold_run(m, outer, cold), "hybrid (tuned)"))
        for label, params in COLD_ABLATIONS.items():
            rows.append(named(cold_run(make(params), outer, cold), label, params))
    if lightfm is not None:
        rows.append(lightfm_row(data, outer, cold, *lightfm))
    return rows, summary


def warm_benchmark(data: Dataset, make: Maker, quick: bool) -> tuple[list[Row], dict[str, Any]]:
    """Rows of the warm table and a summary of the split."""
    outer = random_holdout(keep_min_interactions(data, min_user=MIN_RATINGS), 0.2, seed=SEED)
    summary = {"users": len(np.unique(outer.train.user)),
               "train_interactions": len(outer.train), "test_interactions": len(outer.test)}
    rows = [named(warm_run(make({"model": name}), outer), name, {})
            for name in ("popularity", "ease", "als")]
    rows.append(named(warm_run(make({}), outer), "hybrid", {}))
    if not quick:
        inner = validation_split(outer.train, 0.2, seed=SEED + 1)
        rows.append(tuned(make, WARM_GRID, lambda m: warm_run(m, inner),
                          lambda m: warm_run(m, outer), "hybrid (tuned)"))
        for label, params in WARM_ABLATIONS.items():
            rows.append(named(warm_run(make(params), outer), label, params))
    return rows, summary


# --------------------------------------------------------------------------- output
def log(message: str) -> None:
    """Progress on stderr (the tables go to stdout)."""
    print(message, file=sys.stderr, flush=True)


def table(rows: list[Row]) -> str:
    """A Markdown table of ``rows``."""
    lines = [f"| system | parameters | val NDCG@{K} | NDCG@{K} (95 % CI) | Recall@{K} | fit s |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        params = ", ".join(f"{k}={v}" for k, v in r.params.items()) or "—"
        val = "—" if r.validation_ndcg is None else f"{r.validation_ndcg:.4f}"
        lines.append(f"| {r.system} | {params} | {val} | {r.ndcg:.4f} "
                     f"({r.ndcg_ci[0]:.3f}–{r.ndcg_ci[1]:.3f}) | {r.recall:.4f} | "
                     f"{r.fit_s:.2f} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--cold-datasets", nargs="*", default=["ml-latest-small"])
    parser.add_argument("--warm-datasets", nargs="*", default=["ml-latest-small", "ml-100k"])
    parser.add_argument("--quick", action="store_true", help="defaults only: no tuning, "
                        "no ablations")
    parser.add_argument("--cache-dir", default=None, help="text embedding cache")
    parser.add_argument("--threads", type=int, default=2, help="BLAS threads of the models")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--peers-python", default=os.environ.get("TRUSTREC_PEERS_PYTHON",
                                                                 PEERS_PYTHON),
                        help="python of the peers' venv (LightFM); the row is skipped "
                             "when it does not exist")
    parser.add_argument("--no-lightfm", action="store_true", help="skip the LightFM row")
    return parser.parse_args(argv)


def model_maker(encoder: Any, threads: int) -> Maker:
    """``make(params)``: the model ``params['model']`` (default ``hybrid``) with the other
    params, the shared text encoder handed over to text models."""
    def make(params: dict[str, Any]) -> Recommender:
        values = dict(params)
        name = values.pop("model", "hybrid")
        if name in ("hybrid", "ease"):
            values.setdefault("threads", threads)
        model = create_model(name, values, seed=SEED)
        return model.use_encoder(encoder) if hasattr(model, "use_encoder") else model
    return make


def main(argv: list[str] | None = None) -> None:
    """Run both benchmarks and print their Markdown tables."""
    args = parse_args(argv)
    from trustrec.text import TextEncoder

    encoder = TextEncoder(cache_dir=args.cache_dir)
    make = model_maker(encoder, args.threads)
    out: dict[str, Any] = {"k": K, "seed": SEED, "quick": args.quick, "encoder":
                           str(encoder.model_id), "cold": {}, "warm": {}}
    data = {name: load(args.data_dir, name)
            for name in dict.fromkeys(args.cold_datasets + args.warm_datasets)}
    lightfm = None
    if args.no_lightfm:
        log("LightFM skipped (--no-lightfm)")
    elif not Path(args.peers_python).exists():
        log(f"LightFM skipped: no peers' python at {args.peers_python}")
    else:
        lightfm = (args.threads, args.peers_python)
    for name in args.cold_datasets:
        log(f"cold items: {name}")
        rows, summary = cold_benchmark(data[name], make, args.quick, lightfm)
        out["cold"][name] = {"summary": summary, "rows": [asdict(r) for r in rows]}
        print(f"### Cold items, {name} ({summary['cold_items']} held-out items, "
              f"{summary['test_users']} users; candidates = held-out items)\n")
        print(table(rows) + "\n")
        best = max(r.ndcg for r in rows if r.system.startswith("hybrid"))
        refs = "; ".join(f"{k} {v:.3f}" for k, v in REFERENCE.items())
        print(f"Reference (ml-latest-small, measured by others): {refs}. Target: hybrid ≥ "
              f"{COLD_TARGET}: {'met' if best >= COLD_TARGET else 'NOT met'} ({best:.4f}).\n")
    for name in args.warm_datasets:
        log(f"warm items: {name}")
        rows, summary = warm_benchmark(data[name], make, args.quick)
        out["warm"][name] = {"summary": summary, "rows": [asdict(r) for r in rows]}
        print(f"### Warm items, {name} ({summary['users']} users, "
              f"{summary['train_interactions']:,} train / {summary['test_interactions']:,} "
              f"test interactions; full ranking)\n")
        print(table(rows) + "\n")
        cf = max((r for r in rows if r.system in ("ease", "als")), key=lambda r: r.ndcg)
        hyb = next(r for r in rows if r.system == "hybrid")
        verdict = "met" if hyb.ndcg >= cf.ndcg else "NOT met"
        print(f"hybrid (defaults) {hyb.ndcg:.4f} ≥ best collaborative ({cf.system}) "
              f"{cf.ndcg:.4f}: {verdict}.\n")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
