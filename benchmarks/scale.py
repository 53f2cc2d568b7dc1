"""Beyond one machine: Spark MLlib ALS against the single-machine ``als``.

``quality`` — ml-latest-small, the top-N protocol of ``benchmarks/topn.py`` (implicit,
users with ≥ 5 ratings, per-user random 80/20, seed 0; 20 % of the training part held out
for tuning). Single-machine ``als`` runs with its defaults (tuned on that validation
split); Spark's ``regParam`` (ALS-WR: multiplied by each row's count) is chosen on the same
validation split from ``--reg-grid``, then refitted on the full training part. Both have
64 factors, alpha 2 and 15 iterations, and are evaluated by the same full-ranking code
(``evaluate_ranking``; the Spark artifact is loaded like any other).

``scaling`` — synthetic Parquet files from ``trustrec.data.synthetic_scale`` (50
interactions per user, one item per 100 interactions up to 100k items): read + train time
and peak resident memory of a fresh process per (engine, size), ``als`` (implicit's CPU
solver) against Spark local mode (driver and JVM), 32 factors, 5 iterations.

    .venv/bin/python benchmarks/scale.py quality
    .venv/bin/python benchmarks/scale.py scaling --sizes 1000000 10000000
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from topn import default_data_dir, load_interactions, protocol_split
from trustrec.data import Dataset, readers
from trustrec.data.synthetic_scale import generate_to_parquet
from trustrec.evaluation import evaluate_ranking
from trustrec.models.als import Als, AlsConfig

CACHE = Path(tempfile.gettempdir()) / "trustrec-scale"
SPARK_CONF = {"spark.driver.memory": "8g", "spark.sql.shuffle.partitions": "8"}


def _session(threads: int) -> Any:
    from trustrec.engines.spark_data import spark_session

    return spark_session(f"local[{threads}]", conf=SPARK_CONF)


def _in_spark_index(test: Dataset, train: Dataset) -> Dataset:
    """``test`` re-indexed into ``train``'s ID space (pairs with unknown IDs dropped)."""
    frame = test.to_frame()
    users, ku = train.user_index.lookup_known(frame["user_id"].to_numpy())
    items, ki = train.item_index.lookup_known(frame["item_id"].to_numpy())
    keep = ku & ki
    return train.with_interactions(users[keep], items[keep], frame["rating"].to_numpy()[keep])


def _spark_ndcg(session: Any, train_csv: Path, test: Dataset, config: AlsConfig,
                k: int) -> tuple[float, float]:
    """Spark-trained ALS: (ndcg@k on ``test``, fit seconds per iteration)."""
    from trustrec.engines.spark import train_als

    fit = train_als(str(train_csv), config, spark=session)
    result = evaluate_ranking(fit.model, fit.dataset, _in_spark_index(test, fit.dataset), k)
    return result.metrics[f"ndcg@{k}"], fit.seconds_per_iteration


def quality(args: argparse.Namespace) -> None:
    """Spark ALS vs single-machine als on ml-latest-small (NDCG@10, time per iteration)."""
    parts = protocol_split(load_interactions(args.data_dir, "ml-latest-small"))
    k = 10
    start = time.perf_counter()
    local = Als(AlsConfig(threads=args.threads)).fit(parts.train)
    local_iter = (time.perf_counter() - start) / local.config.iterations
    local_ndcg = evaluate_ranking(local, parts.train, parts.test, k).metrics[f"ndcg@{k}"]
    session = _session(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        csv = {name: Path(tmp) / f"{name}.csv" for name in ("fit", "train")}
        parts.fit.to_frame().to_csv(csv["fit"], index=False)
        parts.train.to_frame().to_csv(csv["train"], index=False)
        tuning = {}
        for reg in args.reg_grid:
            config = AlsConfig(regularization=reg)
            tuning[reg], _ = _spark_ndcg(session, csv["fit"], parts.validation, config, k)
            print(f"  validation: regParam={reg}: ndcg@10={tuning[reg]:.4f}", file=sys.stderr)
        best = max(tuning, key=tuning.get)
        spark_ndcg, spark_iter = _spark_ndcg(session, csv["train"], parts.test,
                                             AlsConfig(regularization=best), k)
    session.stop()
    gap = (spark_ndcg - local_ndcg) / local_ndcg
    print(f"ml-latest-small, top-N protocol, k={k}, {args.threads} threads/cores\n")
    print("| engine | regularization | NDCG@10 | vs als | seconds / iteration |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| als (implicit, one process) | {local.config.regularization:g} | {local_ndcg:.4f} "
          f"| – | {local_iter:.2f} |")
    print(f"| Spark MLlib ALS (local[{args.threads}]) | regParam {best:g} (ALS-WR) | "
          f"{spark_ndcg:.4f} | {gap:+.1%} | {spark_iter:.2f} |")


def _data_file(n: int) -> Path:
    """The synthetic Parquet file of ``n`` interactions (generated once, then cached)."""
    path = CACHE / f"synthetic-{n}.parquet"
    if not path.exists():
        generate_to_parquet(path, n_users=max(100, n // 50),
                            n_items=min(100_000, max(100, n // 100)), n_interactions=n,
                            seed=0)
    return path


def _peak_mib(pid: int | None = None) -> float:
    """Peak resident memory (VmHWM) of this process or ``pid``, MiB."""
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else float("nan")


def one(args: argparse.Namespace) -> None:
    """One (engine, size) run in this process; prints a JSON line."""
    path = _data_file(args.n)
    config = AlsConfig(factors=32, iterations=5, threads=args.threads,
                       regularization=30.0 if args.engine == "als" else 0.05)
    out: dict[str, Any] = {"engine": args.engine, "n": args.n}
    start = time.perf_counter()
    if args.engine == "als":
        dataset = readers.load(path).dataset
        out["read_s"] = time.perf_counter() - start
        start = time.perf_counter()
        Als(config).fit(dataset)
        out["fit_s"] = time.perf_counter() - start
        out["peak_mib"] = _peak_mib()
    else:
        from trustrec.engines.spark import train_als

        session = _session(args.threads)
        fit = train_als(str(path), config, spark=session)
        out.update(read_s=fit.timings["read_s"], fit_s=fit.timings["fit_s"])
        jvm = session.sparkContext._gateway.proc.pid
        out["peak_mib"] = _peak_mib() + _peak_mib(jvm)
        session.stop()
    print(json.dumps(out))


def scaling(args: argparse.Namespace) -> None:
    """Train time and peak memory per engine and size, each run in a fresh process."""
    print(f"synthetic implicit data, ALS 32 factors × 5 iterations, {args.threads} cores\n")
    print("| interactions | engine | read + index s | fit s | s / iteration | peak RSS MiB |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for n in args.sizes:
        _data_file(n)
        for engine in ("als", "spark"):
            cmd = [sys.executable, __file__, "one", "--engine", engine, "--n", str(n),
                   "--threads", str(args.threads)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode:
                print(f"| {n:,} | {engine} | failed: {done.stderr.strip()[-200:]} | | | |")
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            label = "als (one process)" if engine == "als" else f"Spark local[{args.threads}]"
            print(f"| {n:,} | {label} | {row['read_s']:.1f} | {row['fit_s']:.1f} | "
                  f"{row['fit_s'] / 5:.1f} | {row['peak_mib']:,.0f} |", flush=True)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--data-dir", type=Path, default=default_data_dir())
    q.add_argument("--reg-grid", type=float, nargs="+",
                   default=[0.01, 0.05, 0.15, 0.3, 0.5, 1.0])
    s = sub.add_parser("scaling")
    s.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    o = sub.add_parser("one")
    o.add_argument("--engine", choices=("als", "spark"), required=True)
    o.add_argument("--n", type=int, required=True)
    for p in (q, s, o):
        p.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    {"quality": quality, "scaling": scaling, "one": one}[args.command](args)


if __name__ == "__main__":
    main()
