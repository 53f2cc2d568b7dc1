"""Latency and throughput of ``trustrec serve`` on loopback, and durability under SIGKILL.

For each model (default ``ease`` and ``als``, default parameters) fitted on all of a
MovieLens dataset (``benchmarks/topn.py``'s implicit interactions), the real server runs in
a subprocess (uvicorn, ``--workers``) with a fresh SQLite event store; a Python load
generator (``--concurrency`` threads, one keep-alive httpx client each) then runs for
``--seconds``:

* ``GET /v1/recommendations/{user}?k=10`` for random training users;
* ``POST /v1/events`` with batches of ``--batch`` events for random users and items.

Latency is per request as the client sees it (p50/p95/p99), throughput is completed
requests per second. The durability check SIGKILLs the server during an event load and
counts the events the store holds after it against those the server acknowledged. The
load generator shares the machine's cores with the server: figures are lower bounds.

    .venv/bin/python benchmarks/serve_latency.py --seconds 60 --concurrency 32
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from topn import default_data_dir, load_interactions
from trustrec.models import create_model
from trustrec.serve.security import create_key
from trustrec.serve.store import EventStore

#: Targets from the issue (2 cores): p99 < 50 ms and ≥ 500 req/s for top-10; ≥ 5,000 events/s.
TARGET_P99_MS, TARGET_RPS, TARGET_EVENTS = 50.0, 500.0, 5000.0


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(model_dir: Path, db: str, port: int, workers: int) -> subprocess.Popen:
    """``trustrec serve`` in a subprocess; returns once ``/readyz`` answers."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "from trustrec.cli import main; main()", "serve",
         "--model-dir", str(model_dir), "--db", db, "--port", str(port),
         "--workers", str(workers), "--rate", "1000000", "--burst", "1000000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.3)
        if proc.poll() is not None:
            raise RuntimeError("server exited during start-up")
    proc.kill()
    raise RuntimeError("server not ready after 180 s")


def load(call: Callable[[httpx.Client, np.random.Generator], int], seconds: float,
         concurrency: int, seed: int) -> dict[str, Any]:
    """Run ``call`` from ``concurrency`` threads for ``seconds``; latency and throughput."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    failures = [0] * concurrency
    acked = [0] * concurrency
    stop = time.monotonic() + seconds

    def worker(slot: int) -> None:
        rng = np.random.default_rng(seed + slot)
        with httpx.Client(timeout=30) as client:
            while time.monotonic() < stop:
                start = time.perf_counter()
                try:
                    units = call(client, rng)
                except httpx.HTTPError:
                    failures[slot] += 1
                    continue
                latencies[slot].append(time.perf_counter() - start)
                acked[slot] += units

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(concurrency)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    lat = np.concatenate([np.asarray(x) for x in latencies]) * 1000
    return {"requests": len(lat), "failures": sum(failures), "units": sum(acked),
            "rps": len(lat) / elapsed, "units_per_s": sum(acked) / elapsed,
            "p50": float(np.percentile(lat, 50)) if len(lat) else float("nan"),
            "p95": float(np.percentile(lat, 95)) if len(lat) else float("nan"),
            "p99": float(np.percentile(lat, 99)) if len(lat) else float("nan")}


def recommend_call(base: str, users: np.ndarray, headers: dict[str, str]) -> Callable[..., int]:
    """A GET top-10 for a random user (reads need a key); 1 unit per 200."""
    def call(client: httpx.Client, rng: np.random.Generator) -> int:
        r = client.get(f"{base}/v1/recommendations/{users[rng.integers(len(users))]}?k=10",
                       headers=headers)
        r.raise_for_status()
        return 1
    return call


def events_call(base: str, users: np.ndarray, items: np.ndarray, batch: int,
                headers: dict[str, str]) -> Callable[..., int]:
    """A POST of ``batch`` random events; its events count once acknowledged."""
    def call(client: httpx.Client, rng: np.random.Generator) -> int:
        events = [{"user_id": str(u), "item_id": str(i), "type": "click"}
                  for u, i in zip(users[rng.integers(len(users), size=batch)],
                                  items[rng.integers(len(items), size=batch)], strict=True)]
        r = client.post(f"{base}/v1/events", json={"events": events}, headers=headers)
        r.raise_for_status()
        return batch
    return call


def kill_check(model_dir: Path, tmp: Path, users: np.ndarray, items: np.ndarray,
               args: argparse.Namespace) -> dict[str, Any]:
    """SIGKILL the server in the middle of an event load; acknowledged vs stored events."""
    db = f"sqlite:///{tmp / f'kill-{model_dir.name}.db'}"
    store = EventStore(db)
    headers = {"Authorization": f"Bearer {create_key(store, 'bench', 'write')}"}
    port = free_port()
    proc = start_server(model_dir, db, port, args.workers)
    killer = threading.Timer(args.kill_after, lambda: os.kill(proc.pid, signal.SIGKILL))
    killer.start()
    result = load(events_call(f"http://127.0.0.1:{port}", users, items, args.batch, headers),
                  args.kill_after + 2.0, args.concurrency, args.seed)
    proc.wait()
    stored = store.count_events()
    store.close()
    return {"acknowledged": result["units"], "stored": stored,
            "lost": max(0, result["units"] - stored)}


def run_model(name: str, data: Any, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Fit, serve and load-test one model."""
    model_dir = tmp / name
    create_model(name, seed=args.seed).fit(data).save(model_dir)
    db = f"sqlite:///{tmp / f'{name}.db'}"
    store = EventStore(db)
    headers = {"Authorization": f"Bearer {create_key(store, 'bench', 'write')}"}
    port = free_port()
    proc = start_server(model_dir, db, port, args.workers)
    base = f"http://127.0.0.1:{port}"
    users, items = data.user_index.ids, data.item_index.ids
    try:
        load(recommend_call(base, users, headers), 2.0, args.concurrency, args.seed)  # warm-up
        recs = load(recommend_call(base, users, headers), args.seconds, args.concurrency, args.seed)
        events = load(events_call(base, users, items, args.batch, headers), args.seconds,
                      args.concurrency, args.seed)
        # recommendations again, now that users have events to overlay
        online = load(recommend_call(base, users, headers), args.seconds, args.concurrency,
                      args.seed)
    finally:
        proc.terminate()
        proc.wait(30)
        store.close()
    return {"recs": recs, "events": events, "online": online,
            "kill": kill_check(model_dir, tmp, users, items, args)}


def main() -> None:
    """Parse arguments, run every model, print the Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--models", nargs="+", default=["ease", "als"])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--kill-after", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    args = parser.parse_args()
    data = load_interactions(args.data_dir, args.dataset)
    print(f"{args.dataset}: {len(data):,} interactions, {data.n_users:,} users, "
          f"{data.n_items:,} items; {args.seconds:g} s per load, concurrency "
          f"{args.concurrency}, {args.workers} worker(s), {os.cpu_count()} CPUs "
          "shared with the load generator\n")
    rows = []
    with tempfile.TemporaryDirectory(prefix="trustrec-serve-") as tmp:
        for name in args.models:
            print(f"{name} …", file=sys.stderr, flush=True)
            rows.append((name, run_model(name, data, Path(tmp), args)))
    print("| model | load | req/s | p50 ms | p95 ms | p99 ms | events/s | failures |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, res in rows:
        for label, key in (("GET top-10 (no events)", "recs"),
                           (f"POST events ×{args.batch}", "events"),
                           ("GET top-10 (with events)", "online")):
            r = res[key]
            ev = f"{r['units_per_s']:,.0f}" if key == "events" else "–"
            print(f"| {name} | {label} | {r['rps']:,.0f} | {r['p50']:.1f} | {r['p95']:.1f} | "
                  f"{r['p99']:.1f} | {ev} | {r['failures']} |")
    print(f"\nTargets (2 cores): p99 < {TARGET_P99_MS:g} ms and ≥ {TARGET_RPS:g} req/s for "
          f"top-10; ≥ {TARGET_EVENTS:,.0f} events/s.\n")
    print("| model | SIGKILL after | events acknowledged | events in store | lost |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, res in rows:
        k = res["kill"]
        print(f"| {name} | {args.kill_after:g} s | {k['acknowledged']:,} | {k['stored']:,} | "
              f"{k['lost']:,} |")


if __name__ == "__main__":
    main()
