"""``trustrec serve`` against the framework's ceiling, measured in one run on loopback.

The *ceiling* is a minimal FastAPI + uvicorn app (same uvicorn, same extras, one worker)
whose route returns a precomputed top-10 list per user, the same JSON rows trustrec
answers; whatever trustrec spends beyond it is its own. Both servers run side by side in
subprocesses while one asyncio load generator (aiohttp, keep-alive, ``C`` connections, on
the same cores) drives each for ``--seconds`` at 1, 8 and 32 connections:

* GET ``/v1/recommendations/{user}?k=10`` for random training users, after a warm-up that
  asks for every user in turn (so trustrec's per-user cache is warm, as the ceiling's
  lists are precomputed), for each model
  (default ``ease`` and ``als``, fitted on all of the dataset as ``benchmarks/topn.py``
  loads it) and for ``--long-users`` users with ``--history`` stored events each (their
  history is overlaid on the model);
* POST ``/v1/events`` of one event and of a batch of ``--batch`` events (write key),
  counting the events acknowledged against those the store holds afterwards.

Printed per row: requests/s, p50/p95/p99 latency as the client sees it, and for GETs the
ratio of requests/s to the ceiling's at the same concurrency. A final check SIGKILLs the
server during an event load and counts acknowledged vs stored events. ``--profile``
samples the trustrec server with py-spy during the ease GET load at 8 connections and
prints where its time goes. The load average (``uptime``) is printed before and after.

    .venv/bin/python benchmarks/serve_latency.py --seconds 3
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from topn import default_data_dir, load_interactions
from trustrec.models import Recommender, create_model
from trustrec.serve.security import create_key
from trustrec.serve.store import Event, EventStore

#: Targets from the issue (an idle 2-core machine).
TARGET_RATIO, TARGET_GET_P99, TARGET_LONG_COST, TARGET_POST_P99 = 0.6, 50.0, 0.20, 100.0
CONNECTIONS = (1, 8, 32)

_JSON = {"Content-Type": "application/json"}
#: a request: (method, path, body) from a random generator
Request = Callable[[np.random.Generator], tuple[str, str, bytes | None]]


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_average() -> str:
    """The 1/5/15-minute load average and the CPU count."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} CPUs"


# ---------------------------------------------------------------------------- servers
def ceiling_main(lists_file: str, port: str) -> None:
    """The ceiling app: a precomputed top-10 per user behind one FastAPI route."""
    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import Response

    bodies = {user: json.dumps(body).encode()
              for user, body in json.loads(Path(lists_file).read_text()).items()}
    app = FastAPI()

    @app.get("/v1/recommendations/{user_id}")
    async def recommendations(user_id: str, k: int = 10) -> Response:
        return Response(bodies[user_id], media_type="application/json")

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning")


def wait_ready(proc: subprocess.Popen, port: int) -> None:
    """Return once ``/readyz`` answers on ``port``; raise if the process exits first."""
    import httpx

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.3)
        if proc.poll() is not None:
            raise RuntimeError("server exited during start-up")
    proc.kill()
    raise RuntimeError("server not ready after 180 s")


def start_ceiling(lists_file: Path, port: int) -> subprocess.Popen:
    """The ceiling app in a subprocess, ready."""
    proc = subprocess.Popen([sys.executable, __file__, "--serve-ceiling", str(lists_file),
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(proc, port)
    return proc


def start_trustrec(model_dir: Path, db: str, port: int) -> subprocess.Popen:
    """``trustrec serve`` (one worker) in a subprocess, ready."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "from trustrec.cli import main; main()", "serve",
         "--model-dir", str(model_dir), "--db", db, "--port", str(port),
         "--rate", "1000000", "--burst", "1000000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(proc, port)
    return proc


def stop(proc: subprocess.Popen) -> None:
    """Terminate a server and wait for it."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------------------- load
async def _drive(base: str, make: Request, units: int, seconds: float, connections: int,
                 headers: dict[str, str], seed: int) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    failures, acknowledged = 0, 0
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout,
                                     headers=headers) as session:
        stop_at = time.perf_counter() + seconds

        async def client(slot: int) -> None:
            nonlocal failures, acknowledged
            rng = np.random.default_rng(seed + slot)
            while time.perf_counter() < stop_at:
                method, path, body = make(rng)
                start = time.perf_counter()
                try:
                    async with session.request(method, path, data=body,
                                               headers=_JSON if body else None) as response:
                        await response.read()
                        ok = response.status == 200
                except (TimeoutError, aiohttp.ClientError):
                    failures += 1
                    continue
                latencies.append(time.perf_counter() - start)
                if ok:
                    acknowledged += units
                else:
                    failures += 1

        began = time.perf_counter()
        await asyncio.gather(*(client(s) for s in range(connections)))
        elapsed = time.perf_counter() - began
    lat = np.asarray(latencies) * 1000
    pct = np.percentile(lat, [50, 95, 99]) if len(lat) else [float("nan")] * 3
    return {"requests": len(lat), "failures": failures, "acknowledged": acknowledged,
            "rps": len(lat) / elapsed, "p50": float(pct[0]), "p95": float(pct[1]),
            "p99": float(pct[2])}


def drive(base: str, make: Request, seconds: float, connections: int, seed: int,
          units: int = 1, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``connections`` keep-alive clients sending ``make(rng)`` for ``seconds``."""
    import uvloop

    return uvloop.run(_drive(base, make, units, seconds, connections, headers or {}, seed))


def get_users(users: np.ndarray) -> Request:
    """GET top-10 for a random user of ``users``."""
    def make(rng: np.random.Generator) -> tuple[str, str, bytes | None]:
        return "GET", f"/v1/recommendations/{users[rng.integers(len(users))]}?k=10", None
    return make


def each_user(users: np.ndarray) -> Request:
    """GET top-10 for ``users`` in turn (a warm-up that asks for every one)."""
    turn = iter(np.resize(users, 1 << 20))

    def make(_rng: np.random.Generator) -> tuple[str, str, bytes | None]:
        return "GET", f"/v1/recommendations/{next(turn)}?k=10", None
    return make


def post_events(users: np.ndarray, items: np.ndarray, batch: int) -> Request:
    """POST ``batch`` random click events (bodies drawn from a pool built once)."""
    rng = np.random.default_rng(1)
    pool = [json.dumps({"events": [
        {"user_id": str(u), "item_id": str(i), "type": "click"}
        for u, i in zip(users[rng.integers(len(users), size=batch)],
                        items[rng.integers(len(items), size=batch)], strict=True)]}).encode()
        for _ in range(64)]

    def make(rng: np.random.Generator) -> tuple[str, str, bytes | None]:
        return "POST", "/v1/events", pool[rng.integers(len(pool))]
    return make


# ---------------------------------------------------------------------------- profile
def profile(pid: int, seconds: float, out: Path) -> dict[str, list[tuple[str, float]]]:
    """Sample process ``pid`` with py-spy for ``seconds``; per function, the share of samples
    of the GIL-holding thread it is on the stack (``inclusive``) and on top (``self``)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    subprocess.run([spy, "record", "--pid", str(pid), "--duration", str(int(seconds)),
                    "--rate", "250", "--format", "raw", "--output", str(out), "--nonblocking",
                    "--gil"],  # only the thread holding the GIL: where CPU time goes
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        # "function (path/file.py:line)" -> "file.py function"
        frames = [f"{f.rpartition('(')[2].split(':')[0].rpartition('/')[2]} "
                  f"{f.partition(' (')[0]}" for f in stack.split(";")]
        if frames[-1].rpartition(".")[2] in _IDLE:
            continue  # a thread waiting for work, or the event loop waiting for input
        n = int(count)
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    def share(counter: collections.Counter[str], keep: Callable[[str], bool]
              ) -> list[tuple[str, float]]:
        return [(frame, n / max(total, 1)) for frame, n in counter.most_common()
                if keep(frame)][:18]
    return {"inclusive": share(inclusive, lambda f: f.split(" ")[0] in _OURS
                               or f.split(" ")[1] in _STAGES),
            "self": share(own, lambda f: True)}


#: leaf functions of a thread that waits
_IDLE = {"wait", "get", "select", "poll", "_worker", "acquire"}
#: trustrec's service modules, and the stages of a request in the framework
_OURS = {"app.py", "online.py", "store.py", "service.py", "topk.py", "artifact.py",
         "metrics.py", "security.py", "ids.py", "lookup.py"}
_STAGES = {"RequestResponseCycle.run_asgi", "RequestResponseCycle.send", "solve_dependencies",
           "AsyncIOBackend.run_sync_in_worker_thread", "WorkerThread.run",
           "HttpToolsProtocol.data_received", "JSONResponse.render", "CORSMiddleware.__call__"}


# ---------------------------------------------------------------------------- run
def measure(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Start the servers, drive every load, return the measurements."""
    data = load_interactions(args.data_dir, args.dataset)
    users, items = data.user_index.ids, data.item_index.ids
    rng = np.random.default_rng(args.seed)
    long_users = rng.choice(users, size=min(args.long_users, len(users)), replace=False)
    servers: dict[str, tuple[subprocess.Popen, int]] = {}
    headers: dict[str, dict[str, str]] = {}
    try:
        for name in args.models:
            model_dir = tmp / name
            create_model(name, seed=args.seed).fit(data).save(model_dir)
            db = f"sqlite:///{tmp / f'{name}.db'}"
            store = EventStore(db)
            headers[name] = {"Authorization": f"Bearer {create_key(store, 'bench', 'write')}"}
            for user in long_users:  # stored histories for the long-history users
                picks = items[rng.integers(len(items), size=args.history)]
                store.add_events([Event(str(user), str(i), "click") for i in picks])
            store.close()
            port = free_port()
            servers[name] = (start_trustrec(model_dir, db, port), port)
        first = Recommender.load(tmp / args.models[0])
        lists = first.recommend(np.arange(first.n_users_), k=10).to_frame()
        lists_file = tmp / "lists.json"
        rows = {str(u): {"user_id": str(u), "items": [
            {"item_id": str(i), "rank": int(r), "score": float(s), "title": None}
            for i, r, s in g[["item_id", "rank", "score"]].itertuples(index=False)]}
            for u, g in lists.groupby("user_id", sort=False)}
        lists_file.write_text(json.dumps(rows))
        port = free_port()
        servers["ceiling"] = (start_ceiling(lists_file, port), port)
        base = {name: f"http://127.0.0.1:{port}" for name, (_, port) in servers.items()}
        results: dict[str, Any] = {"get": {}, "post": {}, "profile": None}
        for name in base:  # warm-up: every user asked for at least once (a warm cache)
            drive(base[name], each_user(np.concatenate([users, long_users])),
                  args.warmup, 4, args.seed, headers=headers.get(name))  # reads need a key
        cells = [("ceiling", "users"), *((m, w) for m in args.models for w in ("users", "long"))]
        for conns in CONNECTIONS:  # interleaved rounds: a load drift hits every cell alike
            for _ in range(args.rounds):
                for name, who in cells:
                    run = drive(base[name], get_users(users if who == "users" else long_users),
                                args.seconds, conns, args.seed, headers=headers.get(name))
                    results["get"].setdefault((name, who, conns), []).append(run)
        if args.profile:
            name = args.models[0]
            proc = servers[name][0]
            import threading

            sampler = threading.Thread(target=lambda: results.__setitem__(
                "profile", profile(proc.pid, args.seconds + 2, tmp / "profile.txt")))
            sampler.start()
            time.sleep(1.0)
            drive(base[name], get_users(users), args.seconds + 1, 8, args.seed,
                  headers=headers[name])
            sampler.join()
        name = args.models[0]
        for batch in (1, args.batch):
            for conns in CONNECTIONS:
                store = EventStore(f"sqlite:///{tmp / f'{name}.db'}")
                before = store.count_events()
                res = drive(base[name], post_events(users, items, batch), args.seconds, conns,
                            args.seed, units=batch, headers=headers[name])
                res["stored"] = store.count_events() - before
                store.close()
                results["post"][(batch, conns)] = res
        results["kill"] = kill_check(tmp / name, tmp, users, items, args)
        return results
    finally:
        for proc, _ in servers.values():
            stop(proc)


def kill_check(model_dir: Path, tmp: Path, users: np.ndarray, items: np.ndarray,
               args: argparse.Namespace) -> dict[str, Any]:
    """SIGKILL the server in the middle of an event load; acknowledged vs stored events."""
    db = f"sqlite:///{tmp / 'kill.db'}"
    store = EventStore(db)
    headers = {"Authorization": f"Bearer {create_key(store, 'bench', 'write')}"}
    port = free_port()
    proc = start_trustrec(model_dir, db, port)
    import threading

    killer = threading.Timer(args.kill_after, lambda: os.kill(proc.pid, signal.SIGKILL))
    killer.start()
    result = drive(f"http://127.0.0.1:{port}", post_events(users, items, args.batch),
                   args.kill_after + 1.0, 32, args.seed, units=args.batch, headers=headers)
    proc.wait()
    stored = store.count_events()
    store.close()
    return {"acknowledged": result["acknowledged"], "stored": stored,
            "lost": max(0, result["acknowledged"] - stored)}


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    """Print the Markdown tables."""
    get = results["get"]

    def med(runs: list[dict[str, Any]], key: str) -> float:
        return float(np.median([r[key] for r in runs]))

    def ratio(runs: list[dict[str, Any]], reference: list[dict[str, Any]]) -> float:
        """Median over rounds of the ratio within a round."""
        return float(np.median([r["rps"] / ref["rps"]
                                for r, ref in zip(runs, reference, strict=True)]))

    print(f"Medians of {args.rounds} interleaved rounds of {args.seconds:g} s per cell.\n")
    print("| GET top-10 | connections | req/s | × ceiling | p50 ms | p95 ms | p99 ms | failures |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    keys = [("ceiling", "users"), *((m, w) for m in args.models for w in ("users", "long"))]
    for conns in CONNECTIONS:
        ceiling = get[("ceiling", "users", conns)]
        for name, who in keys:
            runs = get[(name, who, conns)]
            label = name if who == "users" else f"{name}, {args.history} stored events"
            print(f"| {label} | {conns} | {med(runs, 'rps'):,.0f} | {ratio(runs, ceiling):.2f} "
                  f"| {med(runs, 'p50'):.1f} | {med(runs, 'p95'):.1f} | {med(runs, 'p99'):.1f} "
                  f"| {sum(r['failures'] for r in runs)} |")
    print("\nLong stored history, throughput cost against the same model's training users "
          "(median over rounds of 1 − long/users within a round):")
    for name in args.models:
        costs = [1 - ratio(get[(name, "long", c)], get[(name, "users", c)]) for c in CONNECTIONS]
        print(f"- {name}: " + ", ".join(f"{c} conn {x:+.0%}" for c, x in
                                        zip(CONNECTIONS, costs, strict=True)))
    print(f"\n| POST /v1/events ({args.models[0]}) | connections | req/s | events/s | p50 ms | "
          "p95 ms | p99 ms | acknowledged | stored | lost |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (batch, conns), r in results["post"].items():
        lost = max(0, r["acknowledged"] - r["stored"])
        print(f"| {batch} event(s) | {conns} | {r['rps']:,.0f} | "
              f"{r['acknowledged'] / args.seconds:,.0f} | {r['p50']:.1f} | {r['p95']:.1f} | "
              f"{r['p99']:.1f} | {r['acknowledged']:,} | {r['stored']:,} | {lost} |")
    k = results["kill"]
    print(f"\nSIGKILL {args.kill_after:g} s into a 32-connection load of ×{args.batch} batches: "
          f"{k['acknowledged']:,} events acknowledged, {k['stored']:,} stored, "
          f"{k['lost']:,} lost.")
    print(f"\nTargets (idle 2-core machine): GET ≥ {TARGET_RATIO:g}× the ceiling at 8 "
          f"connections with p99 < {TARGET_GET_P99:g} ms; a long history costs ≤ "
          f"{TARGET_LONG_COST:.0%} of throughput; POST p99 ≤ {TARGET_POST_P99:g} ms at 32 "
          "connections, nothing acknowledged lost.")
    if results["profile"]:
        print(f"\nWhere the {args.models[0]} server's time goes (py-spy, GET at 8 connections, "
              "share of busy samples):\n")
        print("| on the stack (inclusive) | share | on top (self) | share |")
        print("| --- | ---: | --- | ---: |")
        for (f1, s1), (f2, s2) in zip(results["profile"]["inclusive"],
                                      results["profile"]["self"], strict=False):
            print(f"| `{f1}` | {s1:.1%} | `{f2}` | {s2:.1%} |")


def main() -> None:
    """Parse arguments, measure, print the tables."""
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-ceiling":
        ceiling_main(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--models", nargs="+", default=["ease", "als"])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--history", type=int, default=380)
    parser.add_argument("--long-users", type=int, default=200)
    parser.add_argument("--warmup", type=float, default=4.0,
                        help="Seconds of warm-up per server (every user in turn).")
    parser.add_argument("--kill-after", type=float, default=3.0)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    args = parser.parse_args()
    print(f"{args.dataset}, models {', '.join(args.models)}; {args.seconds:g} s per load; "
          f"before: {load_average()}\n")
    with tempfile.TemporaryDirectory(prefix="trustrec-serve-") as tmp:
        results = measure(args, Path(tmp))
    report(results, args)
    print(f"\nafter: {load_average()}")


if __name__ == "__main__":
    main()
