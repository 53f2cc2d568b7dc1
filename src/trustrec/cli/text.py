"""Language-model commands: ``encode`` (precompute item text vectors) and ``search``
(natural-language queries against a trained text model)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from trustrec.cli.common import (
    ColumnsOpt,
    app,
    columns_mapping,
    err,
    out,
    print_table,
    user_errors,
    write_csv,
)

CACHE_FOLDER = "cache"


@app.command()
@user_errors
def encode(
    items: Annotated[Path, typer.Option(help="Item table (CSV/TSV/Parquet) with item_id and "
                                        "text columns such as title, genres, tags.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for vectors.npy, item_ids.npy, "
                                          "manifest.json and the embedding cache.")],
    model: Annotated[str | None, typer.Option(
        help="Sentence-transformers model folder or hub name (default: the bundled "
             "all-MiniLM-L6-v2, offline).")] = None,
    fields: Annotated[str | None, typer.Option(
        help="Comma-separated text columns, in order (default: title, genres, tags, "
             "description, text as present).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per forward pass.")] = 32,
    quantize: Annotated[bool | None, typer.Option(
        "--quantize/--no-quantize",
        help="int8 (faster) or float32 layers; default: int8 if it keeps cosine ≥ 0.99 to "
             "float32 on calibration texts.")] = None,
    backend: Annotated[str | None, typer.Option(
        help="onnx (ONNX Runtime, the model exported once into the user cache) or torch; "
             "default: onnx where onnxruntime is installed.")] = None,
    columns: ColumnsOpt = None,
) -> None:
    """Precompute the text vectors of a catalogue; texts already in OUT's cache are reused."""
    from trustrec.data import readers
    from trustrec.text import TextEncoder, encode_item_table

    names = None if fields is None else [f.strip() for f in fields.split(",") if f.strip()]
    table = readers.read_items(items, columns_mapping(columns))
    encoder = TextEncoder(model, cache_dir=out_dir / CACHE_FOLDER, batch_size=batch_size,
                          quantize=quantize, backend=backend)
    start = time.perf_counter()
    result = encode_item_table(table, encoder, names)
    seconds = time.perf_counter() - start
    path = result.save(out_dir)
    if encoder.texts_encoded:
        out.print(f"encoded {encoder.texts_encoded:,} new text(s) for {len(table):,} items "
                  f"in {seconds:.1f}s")
    else:
        out.print(f"nothing to encode: the texts of all {len(table):,} items were in the cache "
                  f"({seconds:.2f}s)")
    empty = int((~result.vectors.any(axis=1)).sum())
    if empty:
        err.print(f"{empty:,} item(s) have no text and got the zero vector")
    out.print(f"{result.vectors.shape[0]:,}×{result.vectors.shape[1]} vectors of "
              f"{result.model_id} → {path}", soft_wrap=True)


@app.command()
@user_errors
def search(
    query: Annotated[str, typer.Argument(help="What to look for, in plain words.")],
    model_dir: Annotated[Path, typer.Option(
        help="A text model (content, hybrid, linear) written by `trustrec train`.")],
    user: Annotated[str | None, typer.Option(
        help="Blend in this user's taste profile (a user ID of the training data).")] = None,
    k: Annotated[int, typer.Option(min=1, max=100_000, help="Number of items.")] = 10,
    user_weight: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Share of the user's profile in the score (with --user).")] = 0.3,
    exclude_seen: Annotated[bool, typer.Option(
        "--exclude-seen",
        help="With --user: leave out the user's training items.")] = False,
    out_path: Annotated[Path | None, typer.Option(
        "--out", help="Also write item_id,title,rank,score to this CSV.")] = None,
) -> None:
    """Rank a text model's items by closeness to QUERY, optionally for a user."""
    from trustrec.models import Recommender
    from trustrec.models.search import search_external

    recommender = Recommender.load(model_dir)
    frame = search_external(recommender, query, k=k, user_id=user, user_weight=user_weight,
                            exclude_seen=exclude_seen)
    rows = [{"rank": int(r.rank), "item_id": str(r.item_id), "title": str(r.title),
             "score": float(r.score)} for r in frame.itertuples(index=False)]
    print_table(f"{query!r}" + ("" if user is None else f" for user {user}"), rows)
    if out_path is not None:
        write_csv(frame, out_path)
        out.print(f"wrote {len(frame):,} results → {out_path}")
