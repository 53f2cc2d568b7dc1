"""The ``trustrec`` command: reads arguments, calls the library, writes files.

Its flags and file columns are a public contract (external scripts drive trustrec through
them). Errors a user can cause print one line (``error: …``) and exit with status 2.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from trustrec.errors import TrustrecError

F = TypeVar("F", bound=Callable[..., None])

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="trustrec: train, evaluate, audit and serve recommenders.")
data_app = typer.Typer(no_args_is_help=True, help="Fetch, inspect and split interaction data.")
app.add_typer(data_app, name="data")

out = Console()
err = Console(stderr=True)

ParamOpt = Annotated[list[str] | None, typer.Option(
    "--param", "-p", help="Model hyper-parameter key=value (repeatable).")]
ColumnsOpt = Annotated[str | None, typer.Option(
    help="Column mapping, e.g. 'user_id=userId,item_id=movieId' (aliases are detected).")]
DuplicatesOpt = Annotated[str, typer.Option(
    help="Duplicate (user,item) pairs: error | last | mean.")]


def user_errors(command: F) -> F:
    """Turn errors a user can cause (bad files, options, artifacts) into one line, exit 2."""

    @functools.wraps(command)
    def run(*args: object, **kwargs: object) -> None:
        try:
            command(*args, **kwargs)
        except (TrustrecError, OSError, UnicodeDecodeError) as exc:
            text = str(exc) if isinstance(exc, TrustrecError) else f"{type(exc).__name__}: {exc}"
            err.print(f"[bold red]error:[/bold red] {text}", highlight=False, soft_wrap=True,
                      markup=True)
            raise typer.Exit(2) from None

    return run  # type: ignore[return-value]


def _columns(text: str | None) -> dict[str, str] | None:
    from trustrec.experiment import parse_params

    return parse_params(text.split(",")) if text else None


def _load(path: Path, columns: str | None = None, duplicates: str = "error",
          items: Path | None = None, users: Path | None = None):
    """Read interactions (file or MovieLens folder) plus optional side tables."""
    from trustrec.data import readers

    item_table = readers.read_items(items) if items else None
    user_table = readers.read_users(users) if users else None
    options: dict = {"duplicates": duplicates}
    if columns:
        options["columns"] = _columns(columns)
    if item_table is not None:
        options["items"] = item_table
    if user_table is not None:
        options["users"] = user_table
    result = readers.load(path, **options)
    for line in result.report.lines():
        err.print(f"[dim]{line}[/dim]")
    return result.dataset


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


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
    dataset = _load(interactions, columns, duplicates, items, users)
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
    _write_csv(frame, out_path)
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
    _write_csv(result.frame, out_path)
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
    _print_table(f"{len(splits)} split(s), k={k}", rows)
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
                                        columns=_columns(columns))]
    if data is None:
        raise typer.BadParameter("give --train and --test, or --data with --protocol")
    if protocol == "ml100k-folds":
        return movielens.load_ml100k_folds(data)
    dataset = _load(data, columns, duplicates)
    options: dict = {"seed": seed}
    if protocol in ("random", "temporal"):
        options["test_fraction"] = test_fraction
    if protocol == "random":
        dataset = split.keep_min_interactions(dataset, min_user=5)
    return split.split_dataset(dataset, protocol, **options)


def _format(column: str, value: object) -> str:
    if not isinstance(value, float):
        return "–" if value is None else str(value)
    if value != value:  # NaN
        return "–"
    return f"{value:.1f}" if column == "arp" else f"{value:.2f}" if column.endswith("_s") \
        else f"{value:.4f}"


def _print_table(title: str, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="left" if col == "model" else "right", no_wrap=True)
    for row in rows:
        table.add_row(*[_format(c, row.get(c)) for c in columns])
    Console(width=max(out.width, 150)).print(table)  # never squeeze numbers


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


@data_app.command("fetch")
@user_errors
def data_fetch(
    name: Annotated[str, typer.Argument(
        help="movielens-100k | movielens-1m | movielens-latest-small")],
    directory: Annotated[Path, typer.Option("--dir", help="Where to put the data.")],
) -> None:
    """Download a MovieLens dataset and verify its pinned SHA-256."""
    from trustrec.data.fetch import fetch_movielens

    path = fetch_movielens(name, directory)
    out.print(f"{name} ready in {path}")


@data_app.command("inspect")
@user_errors
def data_inspect(
    path: Annotated[Path, typer.Argument(help="Interactions file or MovieLens folder.")],
    columns: ColumnsOpt = None,
    duplicates: DuplicatesOpt = "error",
) -> None:
    """Validate a data set and print its summary."""
    dataset = _load(path, columns, duplicates)
    table = Table(title=str(path))
    table.add_column("field")
    table.add_column("value", justify="right")
    for key, value in dataset.summary().items():
        table.add_row(key, f"{value:.6f}" if isinstance(value, float) else str(value))
    out.print(table)


@data_app.command("split")
@user_errors
def data_split(
    path: Annotated[Path, typer.Argument(help="Interactions file or MovieLens folder.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for train/test CSVs.")],
    method: Annotated[str, typer.Option(
        help="random | temporal | leave-last | kfold | cold-item | cold-user")] = "random",
    test_fraction: Annotated[float | None, typer.Option(help="Test share.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    columns: ColumnsOpt = None,
    duplicates: DuplicatesOpt = "error",
) -> None:
    """Split interactions into train/test CSV files (one pair per fold for k-fold)."""
    from trustrec.data import split

    dataset = _load(path, columns, duplicates)
    options: dict = {"seed": seed} if method not in ("temporal", "leave-last") else {}
    if test_fraction is not None:
        options["test_fraction"] = test_fraction
    parts = split.split_dataset(dataset, method, **options)
    for n, part in enumerate(parts, start=1):
        suffix = f"_{n}" if len(parts) > 1 else ""
        _write_csv(part.train.to_frame(), out_dir / f"train{suffix}.csv")
        _write_csv(part.test.to_frame(), out_dir / f"test{suffix}.csv")
        out.print(f"{method}{suffix}: train {len(part.train):,} / test {len(part.test):,}")
    out.print(f"→ {out_dir}")


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
    _print_table(result.title, result.rows)
    out.print(f"report → {result.report_path}")


def main() -> None:
    """Entry point of the ``trustrec`` command."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
