"""``trustrec data``: fetch, inspect and split interaction data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from trustrec.cli.common import (
    ColumnsOpt,
    DuplicatesOpt,
    RatingScaleOpt,
    data_app,
    load_data,
    out,
    user_errors,
    write_csv,
)


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
    rating_scale: RatingScaleOpt = None,
) -> None:
    """Validate a data set and print its summary."""
    dataset = load_data(path, columns, duplicates, rating_scale=rating_scale)
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
    rating_scale: RatingScaleOpt = None,
) -> None:
    """Split interactions into train/test CSV files (one pair per fold for k-fold), plus
    ``items.csv`` / ``users.csv`` when the data has those tables."""
    from trustrec.data import split

    dataset = load_data(path, columns, duplicates, rating_scale=rating_scale)
    options: dict = {"seed": seed} if method not in ("temporal", "leave-last") else {}
    if test_fraction is not None:
        options["test_fraction"] = test_fraction
    parts = split.split_dataset(dataset, method, **options)
    for n, part in enumerate(parts, start=1):
        suffix = f"_{n}" if len(parts) > 1 else ""
        write_csv(part.train.to_frame(), out_dir / f"train{suffix}.csv")
        write_csv(part.test.to_frame(), out_dir / f"test{suffix}.csv")
        out.print(f"{method}{suffix}: train {len(part.train):,} / test {len(part.test):,}")
    # the side tables travel with the split, so that later commands can name items
    # (``--items out/items.csv``); ``text`` is left out: reading the table folds it again
    if dataset.items is not None:
        write_csv(dataset.items.drop(columns=["text"], errors="ignore"), out_dir / "items.csv")
        out.print(f"items: {len(dataset.items):,} → {out_dir / 'items.csv'}")
    if dataset.users is not None:
        write_csv(dataset.users, out_dir / "users.csv")
        out.print(f"users: {len(dataset.users):,} → {out_dir / 'users.csv'}")
    out.print(f"→ {out_dir}")
