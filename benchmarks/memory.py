"""Peak memory of trustrec model fits (default: ``ease`` and ``als``) on MovieLens.

Each (model, dataset) pair is fitted in a fresh process run under ``/usr/bin/time -v``, on
the training part of the top-N protocol (``benchmarks/topn.py``: implicit interactions,
per-user random 80/20, seed 0), with the model's default parameters and ``--threads``.
The table gives the resident set size just before the fit, its peak during the fit (the
kernel's high-water mark, reset right before ``fit``), the growth the fit caused and the
whole process's peak as ``/usr/bin/time`` reports it (data loading included). Without
``/usr/bin/time`` the process's own ``getrusage`` peak is shown instead.

    .venv/bin/python benchmarks/memory.py                 # the table
    .venv/bin/python benchmarks/memory.py ease ml-latest-small   # one fit, a JSON line
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from topn import DATASETS, default_data_dir, load_interactions, protocol_split
from trustrec.models import create_model, get_model_class

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def status_kib(field: str) -> int | None:
    """A ``/proc/self/status`` field in KiB (``VmRSS``, ``VmHWM``), None where unavailable."""
    try:
        text = _STATUS.read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (``VmHWM``) of this process; False if not possible."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def measure(model_name: str, dataset: str, data_dir: Path, threads: int) -> dict[str, Any]:
    """Fit ``model_name`` on the protocol's training part of ``dataset``; memory and time."""
    train = protocol_split(load_interactions(data_dir, dataset)).train
    params: dict[str, Any] = {}
    if "threads" in get_model_class(model_name).config_class.field_names():
        params["threads"] = threads
    model = create_model(model_name, params, seed=0)
    gc.collect()
    before = status_kib("VmRSS")
    reset = reset_peak()
    start = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - start
    fit_peak = status_kib("VmHWM") if reset else None
    return {"model": model_name, "dataset": dataset, "config": model.config.to_dict(),
            "items": train.n_items, "fit_s": fit_s, "rss_before_kib": before,
            "fit_peak_kib": fit_peak,
            "process_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def run_child(model_name: str, dataset: str, data_dir: Path, threads: int) -> dict[str, Any]:
    """:func:`measure` in a fresh process, under ``/usr/bin/time -v`` when it exists."""
    cmd = [sys.executable, str(Path(__file__).resolve()), model_name, dataset,
           "--data-dir", str(data_dir), "--threads", str(threads)]
    timer = shutil.which("time", path="/usr/bin")
    if timer:
        cmd = [timer, "-v", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{model_name} on {dataset} failed:\n{proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    out["time_v_peak_kib"] = int(match.group(1)) if match else None
    return out


def mib(kib: int | None) -> str:
    """KiB as MiB with one decimal, ``n/a`` for None."""
    return "n/a" if kib is None else f"{kib / 1024:.1f}"


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of the measurements."""
    lines = ["| model | dataset | items | RSS before fit MiB | peak during fit MiB "
             "| fit growth MiB | process peak MiB | fit s |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        before, peak = r["rss_before_kib"], r["fit_peak_kib"]
        growth = None if before is None or peak is None else peak - before
        process = r["time_v_peak_kib"] or r["process_peak_kib"]
        lines.append(f"| {r['model']} | {r['dataset']} | {r['items']:,} | {mib(before)} "
                     f"| {mib(peak)} | {mib(growth)} | {mib(process)} | {r['fit_s']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    """One measurement (``MODEL DATASET``) as a JSON line, or the table of all pairs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="measure this model only (JSON line)")
    parser.add_argument("dataset", nargs="?", choices=DATASETS)
    parser.add_argument("--models", nargs="+", default=["ease", "als"])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args()
    if args.model:
        if not args.dataset:
            parser.error("MODEL needs a DATASET")
        print(json.dumps(measure(args.model, args.dataset, args.data_dir, args.threads)))
        return
    rows = [run_child(model, dataset, args.data_dir, args.threads)
            for dataset in args.datasets for model in args.models]
    print(f"Peak memory of fits on the top-N protocol's training part, {args.threads} threads, "
          "default parameters.\n")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
