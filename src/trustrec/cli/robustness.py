"""``trustrec audit robustness``: attack a model with fake profiles, detect, defend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from trustrec.cli.common import (
    ColumnsOpt,
    DuplicatesOpt,
    ParamOpt,
    audit_app,
    load_data,
    out,
    print_table,
    user_errors,
)


@audit_app.command("robustness")
@user_errors
def robustness(
    interactions: Annotated[Path, typer.Option(help="Interactions file or MovieLens folder.")],
    model: Annotated[str, typer.Option(help="Model name (see `trustrec models`).")] = "itemknn",
    attack: Annotated[str, typer.Option(
        help="random | average | bandwagon | segment | reverse_bandwagon | generative | text "
             "(text: rewrites target texts; needs --items and a text model) | llm_text (an "
             "LLM rewrites target texts with black-box queries; content, hybrid, llm_rerank) | "
             "injection (instructions in item text against llm_rerank) | llm_profiles (fake "
             "profiles chosen by an LLM agent); the LLM is the one TRUSTREC_LLM_* names, "
             "the bundled one by default")] = "average",
    size: Annotated[float, typer.Option(help="Fake users as a share of users.")] = 0.03,
    targets: Annotated[int, typer.Option(min=1, help="Number of unpopular target items.")] = 5,
    seeds: Annotated[int, typer.Option(min=1, help="Seeds to average over.")] = 3,
    out_dir: Annotated[Path, typer.Option("--out", help="Output directory.")] =
        Path("robustness"),
    items: Annotated[Path | None, typer.Option(help="Item table (CSV).")] = None,
    filler: Annotated[float, typer.Option(help="Filler items as a share of items.")] = 0.05,
    intent: Annotated[str, typer.Option(help="push | nuke")] = "push",
    time_pattern: Annotated[str, typer.Option(help="spread | burst")] = "spread",
    sampler: Annotated[str, typer.Option(help="Generative sampler: auto | markov | sasrec")] =
        "auto",
    detector: Annotated[str, typer.Option(
        help="combined | supervised (trained on simulated attacks) | group | outlier")] =
        "combined",
    defence: Annotated[str, typer.Option(help="drop | downweight flagged users")] = "drop",
    budget: Annotated[int, typer.Option(min=1, help="Text attack: words inserted.")] = 20,
    candidates: Annotated[int, typer.Option(min=1, help="Text attack: candidate words.")] = 60,
    query_budget: Annotated[int, typer.Option(
        min=2, help="llm_text: victim queries per target.")] = 8,
    max_length: Annotated[int, typer.Option(
        min=2, help="generative / llm_profiles: longest fake profile.")] = 300,
    param: ParamOpt = None,
    columns: ColumnsOpt = None,
    duplicates: DuplicatesOpt = "error",
) -> None:
    """Attack, detect, defend and re-measure; writes robustness.json and index.html."""
    from trustrec.models.spec import parse_params
    from trustrec.progress import terminal_progress
    from trustrec.report.html import Report
    from trustrec.report.robustness import audit_section
    from trustrec.robustness.audit import audit_robustness

    dataset = load_data(interactions, columns, duplicates, items)
    with terminal_progress() as progress:
        report = audit_robustness(dataset, model, attack, size, targets, seeds,
                                  params=parse_params(param or []), filler=filler,
                                  intent=intent, time_pattern=time_pattern, sampler=sampler,
                                  detector=detector, defence=defence, budget=budget,
                                  n_candidates=candidates, query_budget=query_budget,
                                  max_length=max_length, on_progress=progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "robustness.json").write_text(json.dumps(report.to_dict(), indent=2, default=str),
                                             encoding="utf-8")
    html = Report("trustrec robustness audit")
    html.add(audit_section(report))
    page = html.write(out_dir, "robustness.html")
    if attack == "injection":
        print_table("llm_rerank under prompt injection (share of trials the target came "
                    "first)", report.injection_table())
    else:
        print_table(f"{model} under {attack} attack ({size:.0%})",
                    [{k: v for k, v in row.items() if not k.endswith("_std")}
                     for row in report.table()])
    out.print(f"wrote {out_dir / 'robustness.json'} and {page} (linked from "
              f"{out_dir / 'index.html'})")
