"""What every ``trustrec`` sub-command shares: the Typer apps, consoles, error handling,
data loading and table printing."""

from __future__ import annotations

import functools
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


def _print_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version

        print(f"trustrec {version('trustrec')}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the version and exit.")] = False) -> None:
    """trustrec: train, evaluate, audit and serve recommenders."""
data_app = typer.Typer(no_args_is_help=True, help="Fetch, inspect and split interaction data.")
app.add_typer(data_app, name="data")
audit_app = typer.Typer(no_args_is_help=True, help="Audit a model: robustness, privacy, fairness.")
app.add_typer(audit_app, name="audit")

out = Console()
err = Console(stderr=True)

ParamOpt = Annotated[list[str] | None, typer.Option(
    "--param", "-p", help="Model hyper-parameter key=value (repeatable).")]
ColumnsOpt = Annotated[str | None, typer.Option(
    help="Column mapping, e.g. 'user_id=userId,item_id=movieId' (aliases are detected).")]
DuplicatesOpt = Annotated[str, typer.Option(
    help="Duplicate (user,item) pairs: error | last | mean.")]
RatingScaleOpt = Annotated[str | None, typer.Option(
    help="Declared rating scale 'LOW,HIGH', e.g. '1,5': every rating is checked against it "
         "(MovieLens folders declare their own).")]


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


def columns_mapping(text: str | None) -> dict[str, str] | None:
    from trustrec.models.spec import parse_params

    return parse_params(text.split(",")) if text else None


def parse_rating_scale(text: str | None) -> tuple[float, float] | None:
    """``'1,5'`` → ``(1.0, 5.0)``; a clear ``--rating-scale`` error otherwise."""
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: expected 'LOW,HIGH', e.g. '1,5' or '0.5,5'",
                                 param_hint="--rating-scale") from None
    if not low < high:
        raise typer.BadParameter(f"{text!r}: LOW must be below HIGH",
                                 param_hint="--rating-scale")
    return low, high


def load_data(path: Path, columns: str | None = None, duplicates: str = "error",
              items: Path | None = None, users: Path | None = None,
              rating_scale: str | None = None):
    """Read interactions (file or MovieLens folder) plus optional side tables."""
    from trustrec.data import readers

    item_table = readers.read_items(items) if items else None
    user_table = readers.read_users(users) if users else None
    options: dict = {"duplicates": duplicates}
    if columns:
        options["columns"] = columns_mapping(columns)
    if item_table is not None:
        options["items"] = item_table
    if user_table is not None:
        options["users"] = user_table
    if rating_scale is not None:
        if path.is_dir():
            raise typer.BadParameter(f"{path} is a data folder that declares its own rating "
                                     "scale; give it for interaction files only",
                                     param_hint="--rating-scale")
        options["rating_scale"] = parse_rating_scale(rating_scale)
    result = readers.load(path, **options)
    for line in result.report.lines():
        err.print(f"[dim]{line}[/dim]")
    return result.dataset


def with_titles(frame: pd.DataFrame, recommender, items: Path | None) -> pd.DataFrame:
    """``frame`` with a ``title`` column after ``item_id``, from the item table ``items`` or
    what the model stores; unchanged when only item IDs are known."""
    if frame.empty:
        return frame
    ids = frame["item_id"].astype(str)
    if items:  # only the titles: no genre or word matrices built for this
        from trustrec.data import readers

        table = readers.read_items(items)
        named = dict(zip(table["item_id"].astype(str), table["title"].fillna(""), strict=True))
        titles = ids.map(named).fillna("")
        titles = titles.where(titles != "", ids)
    else:
        from trustrec.explain import ItemInfo

        index = recommender.item_index_
        known = ItemInfo.from_model(recommender).titles  # what the model stores (cheap)
        titles = pd.Series(known[index.lookup(frame["item_id"].to_numpy(), what="item")],
                           index=frame.index)
    if (titles == ids).all():
        return frame
    at = frame.columns.get_loc("item_id") + 1
    return pd.concat([frame.iloc[:, :at], pd.DataFrame({"title": titles.to_numpy()},
                                                       index=frame.index),
                      frame.iloc[:, at:]], axis=1)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a frame as CSV, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)



def _format_cell(column: str, value: object) -> str:
    if not isinstance(value, float):
        return "–" if value is None else str(value)
    if value != value:  # NaN
        return "–"
    return f"{value:.1f}" if column == "arp" else f"{value:.2f}" if column.endswith("_s") \
        else f"{value:.4f}"


def print_table(title: str, rows: list[dict]) -> None:
    """Print rows of metrics as a table with a stable column order."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="left" if col in ("model", "title") else "right",
                         no_wrap=True)
    for row in rows:
        table.add_row(*[_format_cell(c, row.get(c)) for c in columns])
    Console(width=max(out.width, 150)).print(table)  # never squeeze numbers
