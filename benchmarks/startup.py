"""Start-up time of light ``trustrec`` commands, as ratios to importing numpy+scipy+pandas.

Each command runs in a fresh interpreter (the ``trustrec`` entry point: ``cli.main()``);
the reference, ``python -c "import numpy, scipy.sparse, pandas"``, runs interleaved with
them in the same rounds, so the ratio holds the machine's load fixed. Medians of
``--rounds`` (default 5). ``recommend`` uses an ``ease`` model trained here on synthetic
data; its row also shows the model's own load time (``Recommender.load``, in-process
median) next to the ratio, as issue 17 states its target as "≤ 2.5× plus the load".

    .venv/bin/python benchmarks/startup.py --rounds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REFERENCE = "import numpy, scipy.sparse, pandas"
ENTRY = "import sys; from trustrec.cli import main; sys.argv[0] = 'trustrec'; main()"


def wall(argv: list[str]) -> float:
    """Seconds one fresh interpreter takes to run ``argv`` (output discarded)."""
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def load_time(model_dir: Path, rounds: int) -> float:
    """Median seconds of ``Recommender.load`` once the code is imported."""
    from trustrec.models import Recommender

    Recommender.load(model_dir)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        Recommender.load(model_dir)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Print the Markdown table of start-up medians and ratios, with the load average."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from trustrec.data import synthetic
    from trustrec.models import create_model

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ds = synthetic.generate(n_users=300, n_items=200, n_interactions=6000, seed=0)
        create_model("ease").fit(ds).save(work / "ease")
        (work / "users.txt").write_text("\n".join(map(str, ds.user_index.ids[:10])) + "\n")
        trustrec = [sys.executable, "-c", ENTRY]
        commands = {
            "reference: import numpy, scipy.sparse, pandas": [sys.executable, "-c", REFERENCE],
            "trustrec --help": [*trustrec, "--help"],
            "trustrec models": [*trustrec, "models"],
            "argument error (train --model ease)": [*trustrec, "train", "--model", "ease"],
            "no such file (evaluate --train missing.csv)": [
                *trustrec, "evaluate", "--train", str(work / "missing.csv"), "--test",
                str(work / "missing.csv"), "--model", "ease"],
            "trustrec recommend (saved ease)": [
                *trustrec, "recommend", "--model-dir", str(work / "ease"), "--users",
                str(work / "users.txt"), "--out", str(work / "recs.csv")],
        }
        load_before = os.getloadavg()
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, argv in commands.items():
                times[name].append(wall(argv))
        load_after = os.getloadavg()
        model_load = load_time(work / "ease", args.rounds)
    medians = {name: statistics.median(values) for name, values in times.items()}
    reference = next(iter(medians.values()))
    print(f"load average (1/5/15 min) before: {load_before[0]:.1f} {load_before[1]:.1f} "
          f"{load_before[2]:.1f}; after: {load_after[0]:.1f} {load_after[1]:.1f} "
          f"{load_after[2]:.1f}; {os.cpu_count()} CPUs; median of {args.rounds}\n")
    print("| command | median s | × reference |")
    print("| --- | ---: | ---: |")
    for name, median in medians.items():
        print(f"| {name} | {median:.2f} | {median / reference:.2f} |")
    print(f"\n`ease` load (Recommender.load, in-process median): {model_load:.3f} s "
          f"= {model_load / reference:.2f} × reference")


if __name__ == "__main__":
    main()
