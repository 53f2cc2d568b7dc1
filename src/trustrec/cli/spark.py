"""``--engine spark`` for ``trustrec train`` and ``trustrec evaluate``: Spark MLlib ALS and
distributed evaluation behind the same commands, flags and artifacts."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from trustrec.cli.common import columns_mapping, out, print_table
from trustrec.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from trustrec.models.als import AlsConfig

ENGINES = ("local", "spark")
EngineOpt = Annotated[str, typer.Option(
    help="local: one process | spark: Spark MLlib (train: als only; evaluate: distributed).")]
SparkMasterOpt = Annotated[str, typer.Option(
    help="Spark master with --engine spark: local[*], spark://host:7077, yarn, k8s://….")]


def uses_spark(engine: str) -> bool:
    """Whether ``--engine`` asks for Spark (``ConfigError`` for an unknown engine)."""
    if engine not in ENGINES:
        raise ConfigError(f"--engine {engine!r}: expected one of {', '.join(ENGINES)}")
    return engine == "spark"


def _als_config(name: str, params: dict[str, str], seed: int) -> AlsConfig:
    """The checked Spark config of a model spec (before any Spark work starts)."""
    from trustrec.engines.spark import spark_config
    from trustrec.models.als import AlsConfig

    if name != "als":
        raise ConfigError(f"--engine spark trains the 'als' model only, not {name!r}; train "
                          "other models with --engine local")
    return spark_config(AlsConfig.from_params({"seed": seed, **params}, model="als"))


def train_spark(interactions: Path, model: str, out_dir: Path, params: dict[str, str],
                seed: int, columns: str | None, duplicates: str, master: str,
                side_tables: bool) -> None:
    """``trustrec train --engine spark``: fit with Spark MLlib, save the standard artifact."""
    from trustrec.engines.spark import train_als

    if side_tables:
        raise ConfigError("--items/--users are not supported with --engine spark yet; the "
                          "model needs only the interactions")
    config = _als_config(model, params, seed)
    fit = train_als(str(interactions), config, master=master,
                    columns=columns_mapping(columns), duplicates=duplicates)
    path = fit.model.save(out_dir)
    data = fit.dataset
    out.print(f"trained [bold]{model}[/bold] with Spark ({master}) on {len(data):,} "
              f"interactions ({data.n_users:,} users, {data.n_items:,} items) in "
              f"{fit.timings['fit_s']:.2f}s → {path}")


def evaluate_spark_cli(specs: list[str], train: Path | None, test: Path | None, k: int,
                       seed: int, columns: str | None, duplicates: str, master: str,
                       json_out: Path | None) -> None:
    """``trustrec evaluate --engine spark``: Spark ALS on --train, distributed metrics on
    --test, one table row per model spec."""
    from trustrec.engines.spark import train_als
    from trustrec.engines.spark_data import spark_session
    from trustrec.engines.spark_eval import evaluate_spark
    from trustrec.experiment import ModelSpec

    if not (train and test):
        raise typer.BadParameter("--engine spark evaluates --train and --test files")
    parsed = [ModelSpec.parse(text) for text in specs]
    configs = [_als_config(spec.name, dict(spec.params), seed) for spec in parsed]
    session = spark_session(master)
    mapping = columns_mapping(columns)
    rows, runs = [], []
    for spec, config in zip(parsed, configs, strict=True):
        fit = train_als(str(train), config, spark=session, columns=mapping,
                        duplicates=duplicates)
        with tempfile.TemporaryDirectory(prefix="trustrec-spark-") as tmp:
            fit.model.save(tmp)
            result = evaluate_spark(session, tmp, str(test), k, columns=mapping,
                                    duplicates=duplicates)
        rows.append({"model": spec.label(), **{name: result.metrics[name] for name in (
            f"ndcg@{k}", f"recall@{k}", f"precision@{k}", f"map@{k}", "coverage")},
            "fit_s": fit.timings["fit_s"]})
        runs.append({**result.to_dict(), "params": dict(spec.params), "timings": {
            **fit.timings, **result.timings}})
    print_table(f"spark ({master}), k={k}", rows)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps({"k": k, "engine": "spark", "models": rows,
                                        "runs": runs}, indent=2))
        out.print(f"metrics → {json_out}")
