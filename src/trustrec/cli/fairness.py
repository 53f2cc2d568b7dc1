"""``trustrec audit fairness`` and ``trustrec explain``: who is served worse, and why an item
is recommended."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from trustrec.cli.common import (
    ColumnsOpt,
    DuplicatesOpt,
    ParamOpt,
    app,
    audit_app,
    err,
    load_data,
    out,
    print_table,
    user_errors,
    write_csv,
)

#: Trade-off weights of the frontier written by ``--rerank``.
FRONTIER_WEIGHTS = (0.0, 0.2, 0.4, 0.6, 0.8)


@audit_app.command("fairness")
@user_errors
def audit_fairness_command(
    interactions: Annotated[Path, typer.Option(help="Interactions (file or MovieLens folder).")],
    model: Annotated[str, typer.Option(help="Model name (see `trustrec models`).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for JSON, CSV and HTML.")],
    group: Annotated[list[str], typer.Option(
        help="User-table column to group users by, or 'activity' (repeatable).")],
    users: Annotated[Path | None, typer.Option(help="User table (user_id, gender, age, …); "
                                               "MovieLens folders bring their own.")] = None,
    items: Annotated[Path | None, typer.Option(help="Item table (item_id, title, genres, …) "
                                               "for category exposure and calibration.")] = None,
    param: ParamOpt = None,
    k: Annotated[int, typer.Option(min=1, help="List length.")] = 10,
    test_fraction: Annotated[float, typer.Option(help="Per-user test share.")] = 0.2,
    rerank: Annotated[str | None, typer.Option(
        help="Also sweep a re-ranker: mmr | calibrated | xquad | groupboost (boosts the worst "
             "group of the first --group).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    columns: ColumnsOpt = None,
    duplicates: DuplicatesOpt = "error",
) -> None:
    """Per-group accuracy with intervals and gap tests, long-tail and category exposure and
    calibration of a model on a per-user holdout; writes fairness.json, groups.csv,
    categories.csv (frontier.csv with --rerank) and index.html to --out."""
    from trustrec.data import split
    from trustrec.fairness import RERANKERS, GroupBoost, audit_fairness, sweep, user_groups
    from trustrec.models import create_model
    from trustrec.models.spec import parse_params
    from trustrec.report.fairness import fairness_section
    from trustrec.report.html import Report

    if rerank is not None and rerank not in RERANKERS:
        raise typer.BadParameter(f"--rerank must be one of {', '.join(RERANKERS)}")
    dataset = split.keep_min_interactions(load_data(interactions, columns, duplicates, items,
                                                    users), min_user=5)
    parts = split.random_holdout(dataset, test_fraction, seed=seed)
    groups = [user_groups(parts.train, g) for g in group]
    recommender = create_model(model, parse_params(param or []), seed=seed).fit(parts.train)
    report = audit_fairness(recommender, parts.train, parts.test, groups, k, seed=seed)
    points = []
    if rerank is not None:
        metric = f"ndcg@{k}"
        reranker = GroupBoost.for_gap(groups[0], report.groups[groups[0].column], metric) \
            if rerank == "groupboost" else RERANKERS[rerank]()
        points = sweep(recommender, reranker.fit(parts.train), FRONTIER_WEIGHTS, parts.train,
                       parts.test, groups, k, seed=seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {**report.to_dict(), "frontier": [p.row() for p in points]}
    (out_dir / "fairness.json").write_text(json.dumps(payload, indent=2, default=float))
    write_csv(pd.DataFrame([{"column": c, **r} for c, a in report.groups.items()
                            for r in a.rows]), out_dir / "groups.csv")
    write_csv(pd.DataFrame([{"category": c, **v} for c, v in report.categories.items()]),
              out_dir / "categories.csv")
    if points:
        write_csv(pd.DataFrame([p.row() for p in points]), out_dir / "frontier.csv")
    html = Report(title=f"trustrec fairness audit — {model}")
    html.add(fairness_section(report, points))
    page = html.write(out_dir, "fairness.html")
    rows = [{"groups": c, "metric": m, "worst": g.worst, "best": g.best, "gap": g.absolute,
             "relative": g.relative, "p_value": g.p_value, "gap_same_activity": g.adjusted}
            for c, a in report.groups.items() for m, g in a.gaps.items()]
    print_table(f"{model}: group gaps, k={k}", rows)
    print_table("overall", [report.metrics])
    out.print(f"audit → {page} (linked from {out_dir / 'index.html'})")


@app.command()
@user_errors
def explain(
    model_dir: Annotated[Path, typer.Option(help="A directory written by `trustrec train`.")],
    user: Annotated[str, typer.Option(help="External user ID.")],
    item: Annotated[str | None, typer.Option(help="Explain this item (default: the user's "
                                             "top-k recommendations).")] = None,
    k: Annotated[int, typer.Option(min=1, help="Recommendations to explain.")] = 10,
    items: Annotated[Path | None, typer.Option(help="Item table for titles, genres and "
                                               "words.")] = None,
    reasons: Annotated[int, typer.Option(min=1, help="Reasons of each type.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    words: Annotated[bool, typer.Option(
        "--words", help="Also say it in a sentence from the language model (TRUSTREC_LLM_*"
                        " settings; the bundled model by default), checked for "
                        "faithfulness.")] = False,
) -> None:
    """Explain why items are recommended to a user (collaborative, content, linear or
    popularity reasons)."""
    from trustrec.data import readers
    from trustrec.explain import ItemInfo, explain_external, explain_recommendations
    from trustrec.models import Recommender

    recommender = Recommender.load(model_dir)
    info = ItemInfo.from_table(readers.read_items(items), recommender.item_index_) \
        if items else None
    found = [explain_external(recommender, user, item, reasons, items=info)] if item else \
        explain_recommendations(recommender, user, k, reasons, items=info)
    if words:
        _explain_in_words(recommender, found, info, as_json)
        return
    if as_json:
        out.print_json(json.dumps([e.to_dict() for e in found]))
        return
    for rank, e in enumerate(found, 1):
        name = f"{e.item_id} {e.title}" if e.title != str(e.item_id) else str(e.item_id)
        out.print(f"{rank}. {name} ({e.kind}, score {e.score:.4f}): {e.text}",
                  highlight=False, markup=False, soft_wrap=True)
    if not found:
        err.print("no recommendations to explain")


def _explain_in_words(recommender, found, info, as_json: bool) -> None:
    """Print the worded explanations (``explain --words``)."""
    from trustrec.explain.words import explain_in_words
    from trustrec.llm.settings import open_model

    worded = explain_in_words(recommender, open_model(), found, items=info)
    if as_json:
        out.print_json(json.dumps([w.to_dict() for w in worded]))
        return
    for rank, w in enumerate(worded, 1):
        note = "" if w.faithful else "  [model's sentence failed the faithfulness check]"
        out.print(f"{rank}. {w.explanation.item_id}: {w.text}{note}", highlight=False,
                  markup=False, soft_wrap=True)
