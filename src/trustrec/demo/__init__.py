"""The demo job: train several models on one split, evaluate them, write an HTML report.

Each capability section is a small experiment in its own module of this package
(``demo_text``, ``demo_llm``, ``demo_sequence``, ``demo_robustness``, ``demo_privacy``,
``demo_fairness``); it hands result objects to :mod:`trustrec.report`, which only renders."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trustrec.data import Dataset, readers, split, synthetic
from trustrec.errors import ConfigError
from trustrec.experiment import ModelSpec, compare_models, summary_rows
from trustrec.progress import ProgressFn, ignore
from trustrec.report.evaluation import comparison_section, dataset_section
from trustrec.report.html import Report, Section

#: Models compared by ``trustrec demo`` unless others are given.
DEFAULT_MODELS: tuple[str, ...] = ("popularity", "itemknn", "ease", "als", "bpr", "baseline", "mf")


def _trust_sections() -> dict[str, Callable[[Dataset, int], Section]]:
    """The report's capability sections, each a small run on the demo's data."""
    from trustrec.demo.fairness import demo_fairness
    from trustrec.demo.llm import demo_llm
    from trustrec.demo.privacy import demo_privacy
    from trustrec.demo.robustness import demo_robustness
    from trustrec.demo.sequence import demo_sequence
    from trustrec.demo.text import demo_text

    return {"language model": demo_text, "llm": demo_llm, "sequential": demo_sequence,
            "robustness": demo_robustness, "privacy": demo_privacy,
            "fairness": demo_fairness}


#: Capability sections the demo adds after the model comparison (``sections=()`` skips them).
DEFAULT_SECTIONS: tuple[str, ...] = ("language model", "llm", "sequential", "robustness",
                                     "privacy", "fairness")


@dataclass(frozen=True)
class DemoResult:
    """What the demo produced: a title, summary rows and the report's path."""

    title: str
    rows: list[dict[str, Any]]
    report_path: Path


def run_demo(
    data: Path | None = None,
    specs: Sequence[str] = DEFAULT_MODELS,
    k: int = 10,
    seed: int = 0,
    out_dir: Path = Path("report"),
    on_progress: ProgressFn | None = None,
    sections: Sequence[str] = DEFAULT_SECTIONS,
) -> DemoResult:
    """Load data (synthetic by default), split 80/20 per user, compare models, add the
    capability ``sections`` (cold start and search, sequences, robustness, privacy, fairness
    and explanations), write a report. ``on_progress(what, done, total)`` hears of every
    fitted model and of every section as it starts and ends."""
    tell = on_progress or ignore
    builders = _trust_sections()
    unknown = sorted(set(sections) - set(builders))
    if unknown:
        raise ConfigError(f"demo: unknown section(s) {unknown}; known: {sorted(builders)}")
    dataset: Dataset = (readers.load(data).dataset if data is not None
                        else synthetic.generate(seed=seed))
    dataset = split.keep_min_interactions(dataset, min_user=5)
    parts = split.random_holdout(dataset, test_fraction=0.2, seed=seed)
    model_specs = [ModelSpec.parse(s) for s in specs]
    fitted: list[Any] = []

    def model_done(run: Any) -> None:
        fitted.append(run)
        tell(f"{dataset.name}: models fitted and evaluated", len(fitted), len(model_specs))

    tell(f"{dataset.name}: models fitted and evaluated", 0, len(model_specs))
    runs = compare_models(parts, model_specs, k=k, seed=seed, on_done=model_done)
    rows = summary_rows([runs], k)
    title = f"{dataset.name}: per-user 80/20 holdout, k={k}"
    report = Report(title=f"trustrec report — {dataset.name}")
    report.add(dataset_section(dataset.summary()))
    report.add(comparison_section(runs, rows, k))
    for done, name in enumerate(sections):
        tell("report sections", done, len(sections))
        tell(f"section {name}", 0, 1)  # shows its elapsed time while it runs
        report.add(builders[name](dataset, seed))
        tell(f"section {name}", 1, 1)
    tell("report sections", len(sections), len(sections))
    return DemoResult(title=title, rows=rows, report_path=report.write(out_dir))
