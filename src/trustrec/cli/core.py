"""Core commands: train, predict, recommend, evaluate, models, demo."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from trustrec.cli.common import (
    ColumnsOpt,
    DuplicatesOpt,
    ParamOpt,
    app,
    columns_mapping,
    err,
    load_data,
    out,
    print_table,
    user_errors,
    write_csv,
)


@app.command()
@user_errors
def train(
    interactions: Annotated[Path, typer.Option(help="Training interactions (CSV/TSV/Parquet, "
                                               "or a MovieLens folder).")],
    model: Annotated[str, typer.Option(help="Model name (see `trustrec models`).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write the model to.")],
    items: Annotated[Path | None, typer.Option(help="Item table (item_id,title,…).")] = None,
    users: Annotated[Path | None, typer.Option(help="User table (user_id,…).")] = None,
    param: ParamOpt = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    columns: ColumnsOpt = None,
    duplicates: DuplicatesOpt = "error",
) -> None:
    """Fit a model on interactions and save it (manifest + arrays, no pickle)."""
    from trustrec.experiment import parse_params
    from trustrec.models import create_model

    recommender = create_model(model, parse_params(param or []), seed=seed)
    dataset = load_data(interactions, columns, duplicates, items, users)
    start = time.perf_counter()
    recommender.fit(dataset)
    seconds = time.perf_counter() - start
    path = recommender.save(out_dir)
    out.print(f"trained [bold]{model}[/bold] on {len(dataset):,} interactions "
              f"({dataset.n_users:,} users, {dataset.n_items:,} items) in {seconds:.2f}s "
              f"→ {path}")


@app.command()
@user_errors
def predict(
    model_dir: Annotated[Path, typer.Option(help="A directory written by `trustrec train`.")],
    pairs: Annotated[Path, typer.Option(help="CSV with user_id,item_id columns.")],
    out_path: Annotated[Path, typer.Option("--out", help="Output CSV (adds `prediction`).")],
) -> None:
    """Predict a score (a rating for rating models) for each user/item pair."""
    from trustrec.data import readers
    from trustrec.models import Recommender
    from trustrec.models.external import predict_external

    recommender = Recommender.load(model_dir)
    frame = readers.read_pairs(pairs)
    result = predict_external(recommender, frame["user_id"].to_numpy(),
                              frame["item_id"].to_numpy())
    frame = frame.assign(prediction=result.prediction)
    write_csv(frame, out_path)
    out.print(f"wrote {len(frame):,} predictions → {out_path}")
    if result.n_unknown:
        err.print(f"{result.n_unknown:,} pair(s) had an unknown user or item and received "
                  "the fallback prediction")


@app.command()
@user_errors
def recommend(
    model_dir: Annotated[Path, typer.Option(help="A directory written by `trustrec train`.")],
    users: Annotated[Path, typer.Option(help="User IDs: one per line, or a CSV with user_id.")],
    out_path: Annotated[Path, typer.Option("--out", help="Output CSV user_id,item_id,rank,score.")],
    k: Annotated[int, typer.Option(min=1, max=100_000, help="List length.")] = 10,
    candidates: Annotated[Path | None, typer.Option(help="Restrict to these item IDs.")] = None,
    include_seen: Annotated[bool, typer.Option(help="Also recommend training items.")] = False,
) -> None:
    """Top-k recommendations for each listed user (seen training items excluded)."""
    from trustrec.data import readers
    from trustrec.models import Recommender
    from trustrec.models.external import recommend_external

    recommender = Recommender.load(model_dir)
    user_ids = readers.read_id_list(users)
    cand = readers.read_id_list(candidates) if candidates else None
    result = recommend_external(recommender, user_ids, k=k, exclude_seen=not include_seen,
                                candidate_ids=cand)
    write_csv(result.frame, out_path)
    out.print(f"wrote {len(result.frame):,} recommendations for {result.n_users:,} users "
              f"→ {out_path}")
    if result.n_unknown_users:
        err.print(f"{result.n_unknown_users:,} unknown user(s) received the popularity fallback")
    if result.n_unknown_candidates:
        err.print(f"{result.n_unknown_candidates:,} unknown candidate item(s) ignored")


@app.command()
@user_errors
def evaluate(
    model: Annotated[list[str], typer.Option(
        help="Model spec 'name' or 'name:key=value,…' (repeatable).")],
    train_path: Annotated[Path | None, typer.Option("--train", help="Training file.")] = None,
    test_path: Annotated[Path | None, typer.Option("--test", help="Test file.")] = None,
    data: Annotated[Path | None, typer.Option(help="Data file or folder for --protocol.")] = None,
    protocol: Annotated[str, typer.Option(
        help="With --data: random | temporal | leave-last | cold-item | cold-user | "
             "ml100k-folds.")] = "random",
    test_fraction: Annotated[float, typer.Option(help="Test share for random/temporal.")] = 0.2,
    k: Annotated[int, typer.Option(min=1, help="Cut-off of the ranking metrics.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    columns: ColumnsOpt = None,
    duplicates: DuplicatesOpt = "error",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write metrics JSON.")] = None,
) -> None:
    """Train and evaluate models on train/test files or a named protocol; print a table."""
    from trustrec.experiment import ModelSpec, compare_models, summary_rows

    splits = _evaluation_splits(train_path, test_path, data, protocol, test_fraction, seed,
                                columns, duplicates)
    specs = [ModelSpec.parse(m) for m in model]
    all_runs = [compare_models(s, specs, k=k, seed=seed) for s in splits]
    rows = summary_rows(all_runs, k)
    print_table(f"{len(splits)} split(s), k={k}", rows)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps({"k": k, "splits": len(splits), "models": rows,
                                        "runs": [[r.to_dict() for r in runs]
                                                 for runs in all_runs]}, indent=2))
        out.print(f"metrics → {json_out}")


def _evaluation_splits(train_path, test_path, data, protocol, test_fraction, seed, columns,
                       duplicates):
    from trustrec.data import movielens, readers, split

    if train_path or test_path:
        if not (train_path and test_path):
            raise typer.BadParameter("--train and --test go together")
        return [readers.load_train_test(train_path, test_path, duplicates=duplicates,
                                        columns=columns_mapping(columns))]
    if data is None:
        raise typer.BadParameter("give --train and --test, or --data with --protocol")
    if protocol == "ml100k-folds":
        return movielens.load_ml100k_folds(data)
    dataset = load_data(data, columns, duplicates)
    options: dict = {"seed": seed}
    if protocol in ("random", "temporal"):
        options["test_fraction"] = test_fraction
    if protocol == "random":
        dataset = split.keep_min_interactions(dataset, min_user=5)
    return split.split_dataset(dataset, protocol, **options)


@app.command("models")
@user_errors
def list_models() -> None:
    """List the available models and their hyper-parameters with defaults."""
    from trustrec.models import available_models, get_model_class

    table = Table(title="models")
    table.add_column("name")
    table.add_column("parameters (defaults)")
    for name in available_models():
        cfg = get_model_class(name).config_class()
        table.add_row(name, ", ".join(f"{k}={v}" for k, v in cfg.to_dict().items()))
    out.print(table)


@app.command()
@user_errors
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Report directory.")] = Path("report"),
    data: Annotated[Path | None, typer.Option(
        help="A MovieLens folder instead of the embedded synthetic data.")] = None,
    model: Annotated[list[str] | None, typer.Option(help="Model specs to compare.")] = None,
    k: Annotated[int, typer.Option(min=1, help="Cut-off of the ranking metrics.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Train several models, evaluate them, print a table and write report/index.html."""
    from trustrec.demo import DEFAULT_MODELS, run_demo

    specs = model or list(DEFAULT_MODELS)
    result = run_demo(data=data, specs=specs, k=k, seed=seed, out_dir=out_dir,
                      on_progress=lambda msg: err.print(f"[dim]{msg}[/dim]"))
    print_table(result.title, result.rows)
    out.print(f"report → {result.report_path}")
