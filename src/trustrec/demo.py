"""The demo job: train several models on one split, evaluate them, write an HTML report."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trustrec.data import Dataset, readers, split, synthetic
from trustrec.errors import ConfigError
from trustrec.experiment import ModelSpec, compare_models, summary_rows
from trustrec.report.evaluation import comparison_section, dataset_section
from trustrec.report.html import Report, Section

#: Models compared by ``trustrec demo`` unless others are given.
DEFAULT_MODELS: tuple[str, ...] = ("popularity", "itemknn", "ease", "als", "bpr", "baseline", "mf")


def _trust_sections() -> dict[str, Callable[[Dataset, int], Section]]:
    """The report's capability sections, each a small run on the demo's data."""
    from trustrec.report.fairness import demo_fairness
    from trustrec.report.llm import demo_llm
    from trustrec.report.privacy import demo_privacy
    from trustrec.report.robustness import demo_robustness
    from trustrec.report.sequence import demo_sequence
    from trustrec.report.text import demo_text

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
    on_progress: Callable[[str], None] | None = None,
    sections: Sequence[str] = DEFAULT_SECTIONS,
) -> DemoResult:
    """Load data (synthetic by default), split 80/20 per user, compare models, add the
    capability ``sections`` (cold start and search, sequences, robustness, privacy, fairness
    and explanations), write a report."""
    say = on_progress or (lambda _msg: None)
    builders = _trust_sections()
    unknown = sorted(set(sections) - set(builders))
    if unknown:
        raise ConfigError(f"demo: unknown section(s) {unknown}; known: {sorted(builders)}")
    dataset: Dataset = (readers.load(data).dataset if data is not None
                        else synthetic.generate(seed=seed))
    say(f"data: {dataset!r}")
    dataset = split.keep_min_interactions(dataset, min_user=5)
    parts = split.random_holdout(dataset, test_fraction=0.2, seed=seed)
    model_specs = [ModelSpec.parse(s) for s in specs]
    runs = compare_models(parts, model_specs, k=k, seed=seed,
                          on_done=lambda run: say(f"{run.spec.label()}: fit "
                                                  f"{run.fit_seconds:.2f}s"))
    rows = summary_rows([runs], k)
    title = f"{dataset.name}: per-user 80/20 holdout, k={k}"
    report = Report(title=f"trustrec report — {dataset.name}")
    report.add(dataset_section(dataset.summary()))
    report.add(comparison_section(runs, rows, k))
    for name in sections:
        start = time.perf_counter()
        report.add(builders[name](dataset, seed))
        say(f"section {name}: {time.perf_counter() - start:.1f}s")
    return DemoResult(title=title, rows=rows, report_path=report.write(out_dir))
