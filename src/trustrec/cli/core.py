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
    RatingScaleOpt,
    app,
    columns_mapping,
    err,
    load_data,
    out,
    parse_rating_scale,
    print_table,
    user_errors,
    with_titles,
    write_csv,
)
from trustrec.cli.spark import EngineOpt, SparkMasterOpt, uses_spark


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
    rating_scale: RatingScaleOpt = None,
    engine: EngineOpt = "local",
    spark_master: SparkMasterOpt = "local[*]",
    encrypt_key_file: Annotated[Path | None, typer.Option(
        help="Encrypt the saved model with AES-256-GCM under this key file.")] = None,
) -> None:
    """Fit a model on interactions and save it (manifest + arrays, no pickle)."""
    from trustrec.cli.privacy import model_key
    from trustrec.models import create_model
    from trustrec.models.spec import parse_params
    from trustrec.privacy.encryption import save_model

    if out_dir.exists() and not out_dir.is_dir():
        raise typer.BadParameter(f"{out_dir} is a file; give a directory for the model "
                                 "(a new one, or a model directory to replace)",
                                 param_hint="--out")
    key = model_key(encrypt_key_file, inputs=(interactions,), outputs=(out_dir,))
    if uses_spark(engine):
        from trustrec.cli.spark import train_spark

        if key is not None or rating_scale is not None:
            raise typer.BadParameter("--encrypt-key-file and --rating-scale work with "
                                     "--engine local only")

        train_spark(interactions, model, out_dir, parse_params(param or []), seed, columns,
                    duplicates, spark_master, side_tables=bool(items or users))
        return
    recommender = create_model(model, parse_params(param or []), seed=seed)
    dataset = load_data(interactions, columns, duplicates, items, users, rating_scale)
    start = time.perf_counter()
    recommender.fit(dataset)
    seconds = time.perf_counter() - start
    path = save_model(recommender, out_dir, key)
    out.print(f"trained [bold]{model}[/bold] on {len(dataset):,} interactions "
              f"({dataset.n_users:,} users, {dataset.n_items:,} items) in {seconds:.2f}s "
              f"→ {path}")


@app.command()
@user_errors
def predict(
    model_dir: Annotated[Path, typer.Option(help="A directory written by `trustrec train`.")],
    pairs: Annotated[Path, typer.Option(help="CSV with user_id,item_id columns.")],
    out_path: Annotated[Path, typer.Option("--out", help="Output CSV (adds `prediction`).")],
    key_file: Annotated[Path | None, typer.Option(
        help="Key file of an encrypted model directory.")] = None,
) -> None:
    """Predict a score (a rating for rating models) for each user/item pair."""
    from trustrec.cli.privacy import read_optional_key
    from trustrec.data import readers
    from trustrec.models.external import predict_external
    from trustrec.privacy.encryption import load_model

    recommender = load_model(model_dir, read_optional_key(key_file))
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
    users: Annotated[Path | None, typer.Option(
        help="User IDs: one per line, or a CSV with user_id.")] = None,
    history: Annotated[str | None, typer.Option(
        help="Instead of --users: a recent history 'i1,i2,i3' (item IDs, oldest first); "
             "recommends from it without retraining.")] = None,
    out_path: Annotated[Path | None, typer.Option(
        "--out", help="Output CSV user_id,item_id,rank,score (item_id,rank,score for "
                      "--history, where it is optional).")] = None,
    k: Annotated[int, typer.Option(min=1, max=100_000, help="List length.")] = 10,
    candidates: Annotated[Path | None, typer.Option(help="Restrict to these item IDs.")] = None,
    include_seen: Annotated[bool, typer.Option(
        "--include-seen", help="Also recommend training items.")] = False,
    key_file: Annotated[Path | None, typer.Option(
        help="Key file of an encrypted model directory.")] = None,
    items: Annotated[Path | None, typer.Option(
        help="Item table (or MovieLens folder / u.item): adds a title column.")] = None,
) -> None:
    """Top-k recommendations for each listed user (seen training items excluded), or for a
    recent history given with --history."""
    from trustrec.cli.privacy import read_optional_key
    from trustrec.data import readers
    from trustrec.models.external import recommend_external
    from trustrec.privacy.encryption import load_model

    if (users is None) == (history is None):
        raise typer.BadParameter("give exactly one of --users and --history")
    recommender = load_model(model_dir, read_optional_key(key_file))
    if history is not None:
        if candidates is not None:
            raise typer.BadParameter("--candidates works with --users only")
        _recommend_history(recommender, history, k, include_seen, out_path, items)
        return
    if out_path is None:
        raise typer.BadParameter("--out is required with --users")
    user_ids = readers.read_id_list(users)
    cand = readers.read_id_list(candidates) if candidates else None
    result = recommend_external(recommender, user_ids, k=k, exclude_seen=not include_seen,
                                candidate_ids=cand)
    write_csv(with_titles(result.frame, recommender, items), out_path)
    out.print(f"wrote {len(result.frame):,} recommendations for {result.n_users:,} users "
              f"→ {out_path}")
    if result.n_unknown_users:
        err.print(f"{result.n_unknown_users:,} unknown user(s) received the popularity fallback")
    if result.n_unknown_candidates:
        err.print(f"{result.n_unknown_candidates:,} unknown candidate item(s) ignored")


def _recommend_history(recommender, history: str, k: int, include_seen: bool,
                       out_path: Path | None, items: Path | None) -> None:
    """Print (and with ``out_path`` write) the top-k list for a comma-separated history."""
    from trustrec.models.external import recommend_history_external

    item_ids = [i.strip() for i in history.split(",") if i.strip()]
    if not item_ids:
        raise typer.BadParameter("--history: expected comma-separated item IDs, e.g. 'i1,i2'")
    found = recommend_history_external(recommender, item_ids, k=k,
                                       exclude_seen=not include_seen)
    frame = with_titles(found, recommender, items)
    print_table(f"top {k} after a history of {len(item_ids)} item(s)",
                frame.to_dict("records"))
    if out_path is not None:
        write_csv(frame, out_path)
        out.print(f"wrote {len(frame):,} recommendations → {out_path}")
    if found.attrs["n_unknown_items"]:
        err.print(f"{found.attrs['n_unknown_items']:,} unknown history item(s) skipped")
    if found.attrs["fallback"]:
        err.print("no history item is known to the model: most popular items shown")


@app.command()
@user_errors
def evaluate(
    model: Annotated[list[str], typer.Option(
        help="Model spec 'name' or 'name:key=value,…' (repeatable).")],
    train_path: Annotated[Path | None, typer.Option("--train", help="Training file.")] = None,
    test_path: Annotated[Path | None, typer.Option("--test", help="Test file.")] = None,
    data: Annotated[Path | None, typer.Option(help="Data file or folder for --protocol.")] = None,
    protocol: Annotated[str, typer.Option(
        help="With --data: random | temporal | leave-last | kfold | cold-item | cold-user | "
             "ml100k-folds.")] = "random",
    test_fraction: Annotated[float, typer.Option(help="Test share for random/temporal.")] = 0.2,
    k: Annotated[int, typer.Option(min=1, help="Cut-off of the ranking metrics.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    columns: ColumnsOpt = None,
    duplicates: DuplicatesOpt = "error",
    rating_scale: RatingScaleOpt = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write metrics JSON.")] = None,
    engine: EngineOpt = "local",
    spark_master: SparkMasterOpt = "local[*]",
) -> None:
    """Train and evaluate models on train/test files or a named protocol; print a table."""
    from trustrec.experiment import ModelSpec, compare_models, summary_rows

    if uses_spark(engine):
        from trustrec.cli.spark import evaluate_spark_cli

        if rating_scale is not None:
            raise typer.BadParameter("--rating-scale works with --engine local only")

        evaluate_spark_cli(model, train_path, test_path, k, seed, columns, duplicates,
                           spark_master, json_out)
        return
    splits = _evaluation_splits(train_path, test_path, data, protocol, test_fraction, seed,
                                columns, duplicates, rating_scale)
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
                       duplicates, rating_scale):
    from trustrec.data import movielens, readers, split

    if train_path or test_path:
        if not (train_path and test_path):
            raise typer.BadParameter("--train and --test go together")
        return [readers.load_train_test(train_path, test_path, duplicates=duplicates,
                                        columns=columns_mapping(columns),
                                        rating_scale=parse_rating_scale(rating_scale))]
    if data is None:
        raise typer.BadParameter("give --train and --test, or --data with --protocol")
    protocols = [*split.SPLITTERS, "ml100k-folds"]
    if protocol not in protocols:
        raise typer.BadParameter(f"{protocol!r}: expected one of {', '.join(protocols)}",
                                 param_hint="--protocol")
    if protocol == "ml100k-folds":
        return movielens.load_ml100k_folds(data)
    dataset = load_data(data, columns, duplicates, rating_scale=rating_scale)
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
    from trustrec.models import available_models, get_config_class

    table = Table(title="models")
    table.add_column("name")
    table.add_column("parameters (defaults)")
    for name in available_models():
        cfg = get_config_class(name)()
        table.add_row(name, ", ".join(  # lists as they are typed: layers=64,32,16
            f"{k}={','.join(map(str, v)) if isinstance(v, (list, tuple)) else v}"
            for k, v in cfg.to_dict().items()))
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
    section: Annotated[list[str] | None, typer.Option(
        help="Report sections after the comparison (repeatable; default all; 'none' skips): "
             "'language model', llm, sequential, robustness, privacy, fairness.")] = None,
) -> None:
    """Train several models, evaluate them, print a table and write report/index.html."""
    from trustrec.demo import DEFAULT_MODELS, DEFAULT_SECTIONS, run_demo
    from trustrec.progress import terminal_progress

    specs = model or list(DEFAULT_MODELS)
    sections = DEFAULT_SECTIONS if section is None else [s for s in section if s != "none"]
    start = time.perf_counter()
    with terminal_progress() as progress:
        result = run_demo(data=data, specs=specs, k=k, seed=seed, out_dir=out_dir,
                          on_progress=progress, sections=sections)
    err.print(f"[dim]demo finished in {time.perf_counter() - start:.0f}s[/dim]")
    print_table(result.title, result.rows)
    out.print(f"report → {result.report_path}")
