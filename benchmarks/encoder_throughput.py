"""Text-encoder throughput: ``TextEncoder`` (ONNX Runtime and torch backends) vs a plain
``SentenceTransformer.encode`` and vs the machine's float32 matrix-multiply peak.

Texts: every movie of ml-latest-small ``movies.csv`` as title + genres
(``"Toy Story (1995). Genres: Adventure, Animation, …"``), built by
``trustrec.text.build_item_texts``; the model is the bundled all-MiniLM-L6-v2.

* **Throughput**: each method encodes the same random ``--sample`` of texts (0 = all), the
  methods one after the other, the whole round ``--repeats`` times; texts/s is the median
  over the rounds (with its range) and the speed-up is the baseline's median time over the
  method's. Models are loaded (int8 ones calibrated, ONNX ones exported) and warmed up
  before timing. The baseline is
  ``SentenceTransformer(path, device="cpu").encode(texts, normalize_embeddings=True)`` with
  its defaults (batch 32, 256 tokens, torch's default intra-op threads).
* **The limit**: each round also times float32 GEMMs (``--gemm``-sized square numpy
  matmuls: one on all BLAS threads, and one per CPU at once on one thread each; the better,
  best of 5; median over the rounds) — the machine's fp32 peak. A method's GFLOP/s are
  its texts/s times the encoder's useful FLOPs per text: 2 × the multiply-adds of its
  matrix products (Q/K/V/output projections and feed-forward, ``L·(8d² + 4·d·d_ff)``,
  plus attention ``4·L²·d``, per layer, ``L`` the text's tokens without padding); int8
  layers are counted at these FLOPs too, so int8 rows may exceed the fp32 peak.
* **Export**: the one-time ONNX export (+ int8 copy + calibration) into an empty folder,
  then a second construction that loads it from there (hash check + calibration only).
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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from threadpoolctl import threadpool_limits

from topn import default_data_dir
from trustrec.data import load_movielens
from trustrec.text import TextEncoder, build_item_texts, default_model_path

Encode = Callable[[list[str]], np.ndarray]
DEFAULT = "TextEncoder() — default (ONNX, int8 where kept)"


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


def plain_model() -> SentenceTransformer:
    """The bundled model as sentence-transformers loads it."""
    return SentenceTransformer(str(default_model_path()), device="cpu")


def plain_encode(model: SentenceTransformer) -> Encode:
    """``model.encode`` with its defaults, unit vectors."""
    return lambda texts: model.encode(texts, normalize_embeddings=True, show_progress_bar=False)


def methods(export_dir: Path) -> tuple[list[Method], dict[str, TextEncoder]]:
    """The baseline first, then the variants (and the encoders, to ask which run int8)."""
    common = {"show_progress": False, "export_dir": export_dir}
    encoders = {
        "TextEncoder(backend='torch', quantize=False) — float32":
            TextEncoder(backend="torch", quantize=False, **common),
        "TextEncoder(backend='torch') — smoothed int8": TextEncoder(backend="torch", **common),
        "TextEncoder(quantize=False) — ONNX float32": TextEncoder(quantize=False, **common),
        DEFAULT: TextEncoder(**common),
    }
    return [Method("plain SentenceTransformer.encode (baseline)", plain_encode(plain_model())),
            *(Method(name, enc.encode) for name, enc in encoders.items())], encoders


def gemm_gflops(n: int, workers: int) -> float:
    """float32 ``n × n`` numpy matrix products in GFLOP/s (2·n³ each), the better of: one
    product on BLAS's own threads, and ``workers`` products at once on one BLAS thread
    each (how the encoders run); best of 5 each."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))

    def best_of_5(run: Callable[[], object], products: int) -> float:
        seconds = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            run()
            seconds = min(seconds, time.perf_counter() - start)
        return products * 2 * n**3 / seconds / 1e9

    shared = best_of_5(lambda: a @ b, 1)
    with threadpool_limits(1), ThreadPoolExecutor(workers) as pool:
        parallel = best_of_5(lambda: list(pool.map(lambda _: a @ b, range(workers))), workers)
    return max(shared, parallel)


def flops_per_text(model: SentenceTransformer, texts: list[str], max_tokens: int) -> float:
    """Mean useful FLOPs of one text (matrix products only, no padding), see the docstring."""
    config = model[0].auto_model.config
    d, d_ff, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    lengths = np.array([len(ids) for ids in model.tokenizer(
        texts, truncation=True, max_length=max_tokens)["input_ids"]], dtype=np.float64)
    return float(np.mean(layers * (lengths * (8 * d * d + 4 * d * d_ff)
                                   + 4 * lengths**2 * d)))


def export_seconds(export_dir: Path) -> tuple[float, float]:
    """Seconds to the first vector of a default encoder with an empty export folder, then
    with that folder filled."""
    times = []
    for _ in range(2):
        start = time.perf_counter()
        TextEncoder(show_progress=False, export_dir=export_dir).encode(["warm up"])
        times.append(time.perf_counter() - start)
    return times[0], times[1]


def time_methods(todo: list[Method], texts: list[str], repeats: int,
                 gemm: int) -> tuple[dict[str, list[float]], list[float]]:
    """Seconds per round for each method, methods interleaved within each round, and the
    GEMM GFLOP/s measured in each round."""
    for method in todo:
        method.encode(texts[:64])  # load and warm up
    seconds: dict[str, list[float]] = {m.name: [] for m in todo}
    peaks = []
    for round_ in range(repeats):
        peaks.append(gemm_gflops(gemm, len(os.sched_getaffinity(0))))
        log(f"round {round_ + 1}: float32 GEMM {peaks[-1]:.0f} GFLOP/s")
        for method in todo:
            start = time.perf_counter()
            method.encode(texts)
            seconds[method.name].append(time.perf_counter() - start)
            log(f"round {round_ + 1}: {method.name}: {len(texts) / seconds[method.name][-1]:.0f}"
                " texts/s")
    return seconds, peaks


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
    parser.add_argument("--gemm", type=int, default=1024, help="GEMM size for the fp32 peak")
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
    with tempfile.TemporaryDirectory() as export_dir:
        export_cold, export_warm = export_seconds(Path(export_dir))
        log(f"ONNX export {export_cold:.1f} s, reload {export_warm:.1f} s")
        todo, encoders = methods(Path(export_dir))
        seconds, peaks = time_methods(todo, sample, args.repeats, args.gemm)

        with tempfile.TemporaryDirectory() as cache_dir:
            start = time.perf_counter()
            cold = TextEncoder(cache_dir=cache_dir, show_progress=False,
                               export_dir=export_dir).encode(texts)
            cold_s = time.perf_counter() - start
            start = time.perf_counter()
            warm = TextEncoder(cache_dir=cache_dir, show_progress=False,
                               export_dir=export_dir).encode(texts)
            warm_s = time.perf_counter() - start
        assert np.array_equal(cold, warm)

        log("catalogue vectors of every setting, for the cosines")
        reference = reference_vectors(texts)
        vectors = {DEFAULT: cold}  # the cold run used the default settings
        vectors.update({m.name: m.encode(texts) for m in todo[1:] if m.name not in vectors})

    base = statistics.median(seconds[todo[0].name])
    peak = statistics.median(peaks)
    flops = flops_per_text(plain_model(), sample, max_tokens=128)
    print(f"Encoding {len(sample)} ml-latest-small titles + genres, median of {args.repeats} "
          f"rounds; cosines over {len(texts)} movies vs the baseline's float32 vectors. "
          f"float32 GEMM peak ({args.gemm}², numpy, all CPUs): {peak:.0f} GFLOP/s "
          f"(range {min(peaks):.0f}–{max(peaks):.0f}); the encoder's useful work: "
          f"{flops / 1e6:.0f} MFLOP per text.\n")
    print("| method | int8 | texts/s (median) | range | speed-up | GFLOP/s | of fp32 peak "
          "| min cos | mean cos |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for method in todo:
        runs = sorted(len(sample) / s for s in seconds[method.name])
        median = statistics.median(seconds[method.name])
        rate = len(sample) / median
        agreement = "reference | reference" if method.name not in vectors \
            else "{:.4f} | {:.4f}".format(*cosines(vectors[method.name], reference))
        int8 = encoders[method.name].int8 if method.name in encoders else False
        print(f"| {method.name} | {'yes' if int8 else 'no'} | {rate:.0f} | "
              f"{runs[0]:.0f}–{runs[-1]:.0f} | {base / median:.2f}× | "
              f"{rate * flops / 1e9:.0f} | {rate * flops / 1e9 / peak:.0%} | {agreement} |")
    print(f"\nONNX export, once per model (export + int8 copy + calibration, empty folder): "
          f"{export_cold:.1f} s to the first vector; a new encoder loading it from the "
          f"folder: {export_warm:.1f} s.")
    print(f"\nCache, {len(texts)} texts: cold run (encode + write) "
          f"{cold_s:.1f} s; warm re-run with a new encoder {warm_s:.2f} s "
          f"({len(texts) / warm_s:,.0f} texts/s, no model call).")
    print(f"\n{os.cpu_count()} CPUs; 1-minute load average {load_start:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end (other jobs share the machine).")


if __name__ == "__main__":
    main()
