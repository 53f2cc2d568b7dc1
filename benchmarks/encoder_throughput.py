"""Text-encoder throughput: ``TextEncoder`` vs a plain ``SentenceTransformer.encode``.

Texts: every movie of ml-latest-small ``movies.csv`` as title + genres
(``"Toy Story (1995). Genres: Adventure, Animation, …"``), built by
``trustrec.text.build_item_texts``; the model is the bundled all-MiniLM-L6-v2.

* **Throughput**: each method encodes the same random ``--sample`` of texts (0 = all), the
  methods one after the other, the whole round ``--repeats`` times; texts/s is the median
  over the rounds (with its range) and the speed-up is the baseline's median time over the
  method's. Models are loaded (int8 ones calibrated) and warmed up before timing. The
  baseline is
  ``SentenceTransformer(path, device="cpu").encode(texts, normalize_embeddings=True)`` with
  its defaults (batch 32, 256 tokens, torch's default intra-op threads).
* **Agreement**: min and mean cosine, over the catalogue (or a random ``--catalogue``
  texts of it), between each method's vectors and the baseline model's float32 vectors.
* **Cache**: a ``TextEncoder(cache_dir=…)`` encodes those texts into an empty cache
  (cold), then a new encoder on the same folder encodes it again (warm: no model call).

    .venv/bin/python benchmarks/encoder_throughput.py [--data-dir DIR] [--sample N]

The machine may be shared: timings are noisy, compare rows of one run only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

from topn import default_data_dir
from trustrec.data import load_movielens
from trustrec.text import TextEncoder, build_item_texts, default_model_path

Encode = Callable[[list[str]], np.ndarray]
DEFAULT = "TextEncoder() — default (int8 smoothed)"


@dataclass
class Method:
    """A timed way of encoding texts."""

    name: str
    encode: Encode


def log(message: str) -> None:
    """Progress to stderr (the table goes to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.1f}] {message}",
          file=sys.stderr, flush=True)


def catalogue_texts(data_dir: Path) -> list[str]:
    """Title + genres of every ml-latest-small movie (movies without either left out)."""
    items = load_movielens(data_dir / "ml-latest-small", with_tags=False).dataset.items
    assert items is not None
    return [t for t in build_item_texts(items, fields=["title", "genres"]) if t]


def plain_model(int8_all: bool = False) -> SentenceTransformer:
    """The bundled model as sentence-transformers loads it (optionally every Linear int8)."""
    model = SentenceTransformer(str(default_model_path()), device="cpu")
    if int8_all:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

            model = quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig},
                                     dtype=torch.qint8, inplace=True)
    return model


def plain_encode(model: SentenceTransformer) -> Encode:
    """``model.encode`` with its defaults, unit vectors."""
    return lambda texts: model.encode(texts, normalize_embeddings=True, show_progress_bar=False)


def methods() -> list[Method]:
    """The baseline first, then the variants."""
    baseline = plain_model()
    int8_all = plain_model(int8_all=True)
    encoders = {
        "TextEncoder(quantize=False) — float32": TextEncoder(quantize=False,
                                                             show_progress=False),
        DEFAULT: TextEncoder(show_progress=False),
    }
    return [
        Method("plain SentenceTransformer.encode (baseline)", plain_encode(baseline)),
        Method("plain encode, int8 dynamic on all Linear layers", plain_encode(int8_all)),
        *(Method(name, enc.encode) for name, enc in encoders.items()),
    ]


def time_methods(todo: list[Method], texts: list[str], repeats: int) -> dict[str, list[float]]:
    """Seconds per round for each method, methods interleaved within each round."""
    for method in todo:
        method.encode(texts[:64])  # load and warm up
    seconds: dict[str, list[float]] = {m.name: [] for m in todo}
    for round_ in range(repeats):
        for method in todo:
            start = time.perf_counter()
            method.encode(texts)
            seconds[method.name].append(time.perf_counter() - start)
            log(f"round {round_ + 1}: {method.name}: {len(texts) / seconds[method.name][-1]:.0f}"
                " texts/s")
    return seconds


def reference_vectors(texts: list[str]) -> np.ndarray:
    """The baseline model's float32 vectors (one intra-op thread: same math, less waiting)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return plain_encode(plain_model())(texts)
    finally:
        torch.set_num_threads(previous)


def cosines(vectors: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """Min and mean row-wise cosine (rows are unit vectors)."""
    cos = np.einsum("ij,ij->i", vectors, reference)
    return float(cos.min()), float(cos.mean())


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir(),
                        help="folder holding ml-latest-small/")
    parser.add_argument("--sample", type=int, default=2000,
                        help="texts per timed encode (0: the whole catalogue)")
    parser.add_argument("--catalogue", type=int, default=0,
                        help="texts for the cosines and the cache runs (0: the whole catalogue)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    texts = catalogue_texts(args.data_dir)
    rng = np.random.default_rng(args.seed)
    if args.catalogue > 0:
        texts = [texts[i] for i in np.sort(rng.choice(len(texts), min(args.catalogue, len(texts)),
                                                      replace=False))]
    sample = texts if args.sample <= 0 else \
        [texts[i] for i in rng.choice(len(texts), min(args.sample, len(texts)), replace=False)]
    log(f"{len(texts)} texts, timing on {len(sample)}; {os.cpu_count()} CPUs, "
        f"torch {torch.__version__} ({torch.get_num_threads()} intra-op threads by default)")
    load_start = os.getloadavg()[0]
    todo = methods()
    seconds = time_methods(todo, sample, args.repeats)

    with tempfile.TemporaryDirectory() as cache_dir:
        start = time.perf_counter()
        cold = TextEncoder(cache_dir=cache_dir, show_progress=False).encode(texts)
        cold_s = time.perf_counter() - start
        start = time.perf_counter()
        warm = TextEncoder(cache_dir=cache_dir, show_progress=False).encode(texts)
        warm_s = time.perf_counter() - start
    assert np.array_equal(cold, warm)

    log("catalogue vectors of every setting, for the cosines")
    reference = reference_vectors(texts)
    vectors = {DEFAULT: cold}  # the cold run used the default settings
    vectors.update({m.name: m.encode(texts) for m in todo[1:] if m.name not in vectors})

    base = statistics.median(seconds[todo[0].name])
    print(f"Encoding {len(sample)} ml-latest-small titles + genres, median of {args.repeats} "
          f"rounds; cosines over {len(texts)} movies vs the baseline's float32 vectors.\n")
    print("| method | texts/s (median) | range | speed-up | min cos | mean cos |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for method in todo:
        runs = sorted(len(sample) / s for s in seconds[method.name])
        median = statistics.median(seconds[method.name])
        agreement = "reference | reference" if method.name not in vectors \
            else "{:.4f} | {:.4f}".format(*cosines(vectors[method.name], reference))
        print(f"| {method.name} | {len(sample) / median:.0f} | {runs[0]:.0f}–{runs[-1]:.0f} | "
              f"{base / median:.2f}× | {agreement} |")
    print(f"\nCache, {len(texts)} texts: cold run (encode + write) "
          f"{cold_s:.1f} s; warm re-run with a new encoder {warm_s:.2f} s "
          f"({len(texts) / warm_s:,.0f} texts/s, no model call).")
    print(f"\n{os.cpu_count()} CPUs; 1-minute load average {load_start:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end (other jobs share the machine).")


if __name__ == "__main__":
    main()
