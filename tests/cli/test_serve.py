"""``trustrec keys|events|serve``: the service commands, and the real server on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd

from tests.cli.test_cli import run
from tests.conftest import planted_frame
from trustrec.data import Dataset
from trustrec.models import create_model
from trustrec.serve.store import Event, EventStore


def test_keys_create_list_revoke(capsys, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'events.db'}"
    code, key, err = run(capsys, "keys", "create", "--role", "write", "--name", "etl", "--db", db)
    assert code == 0, err
    key = key.strip()
    assert key.startswith("trk_") and "cannot be shown again" in err
    code, listed, _ = run(capsys, "keys", "list", "--db", db)
    key_id = key.split("_")[1]
    assert code == 0 and key_id in listed and "write" in listed and key not in listed
    assert run(capsys, "keys", "revoke", key_id, "--db", db)[0] == 0
    assert "revoked" in run(capsys, "keys", "list", "--db", db)[1]
    code, _, err = run(capsys, "keys", "create", "--role", "root", "--name", "x", "--db", db)
    assert code == 2 and "role must be one of" in err


def test_end_user_keys_and_model_signatures_from_the_cli(capsys, tmp_path: Path) -> None:
    from trustrec.serve.security import KeyRing
    from trustrec.serve.signing import server_key, verify_artifact

    db = f"sqlite:///{tmp_path / 'events.db'}"
    code, key, err = run(capsys, "keys", "create", "--role", "read", "--name", "app",
                         "--user", "u1", "--user", "u2", "--db", db)
    assert code == 0 and "u1, u2" in err, err
    assert "users u1,u2" in run(capsys, "keys", "list", "--db", db)[1]
    store = EventStore(db)
    found = KeyRing(store, ttl=0).verify(key.strip())
    assert found is not None and found.users == {"u1", "u2"} and not found.may_act_for("u3")
    model_dir = tmp_path / "model"
    create_model("popularity").fit(Dataset.from_frame(planted_frame())).save(model_dir)
    assert run(capsys, "keys", "sign-model", "--model-dir", model_dir, "--db", db)[0] == 0
    verify_artifact(model_dir, server_key(store))  # a running service would load it
    store.close()


def test_events_export_writes_a_trainable_table(capsys, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'events.db'}"
    store = EventStore(db)
    store.add_events([Event("u1", "i1", "rating", 4.0, 10), Event("u2", "i2", "click", 1.0, 11),
                      Event("u1", "i3", "view", 1.0, 12), Event("u1", "i3", "dislike", 1.0, 13),
                      Event("u2", "i2", "purchase", 1.0, 14),
                      Event("u2", "i4", "dislike", 1.0, 15), Event("u2", "i4", "like", 1.0, 16)])
    store.close()
    code, out, err = run(capsys, "events", "export", "--db", db, "--out", tmp_path / "ev.csv")
    assert code == 0 and "exported 3 training rows" in out, err
    frame = pd.read_csv(tmp_path / "ev.csv", dtype={"user_id": str, "item_id": str})
    # the dislike of i3 keeps it out; a like after a dislike counts; one row per pair
    assert frame.values.tolist() == [["u1", "i1", 4.0, 10], ["u2", "i2", 1.0, 14],
                                     ["u2", "i4", 1.0, 16]]
    model = tmp_path / "model"
    code, _, err = run(capsys, "train", "--interactions", tmp_path / "ev.csv", "--model",
                       "popularity", "--out", model)
    assert code == 0, err  # trains as written: no duplicate pairs, no dislikes as positives
    code, out, err = run(capsys, "events", "export", "--db", db, "--out", tmp_path / "all.csv",
                         "--all")
    assert code == 0 and "exported 7 events" in out, err
    assert pd.read_csv(tmp_path / "all.csv")["type"].tolist()[-2:] == ["dislike", "like"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(model_dir: Path, db: str, port: int, *options: str) -> subprocess.Popen:
    code = "from trustrec.cli import main; main()"
    proc = subprocess.Popen([sys.executable, "-c", code, "serve", "--model-dir", str(model_dir),
                             "--db", db, "--port", str(port), *options],
                            env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode() if proc.stderr else "server died")
    proc.kill()
    raise AssertionError("server did not become ready in 60 s")


def test_real_server_on_loopback_keeps_acknowledged_events_after_sigkill(tmp_path) -> None:
    """The real `trustrec serve` process: online updates over HTTP, then SIGKILL."""
    model_dir = tmp_path / "model"
    create_model("itemknn", {"k": 10}).fit(Dataset.from_frame(planted_frame())).save(model_dir)
    db = f"sqlite:///{tmp_path / 'events.db'}"
    store = EventStore(db)
    from trustrec.serve.security import create_key

    headers = {"Authorization": f"Bearer {create_key(store, 'test', 'write')}"}
    reader = {"Authorization": f"Bearer {create_key(store, 'test', 'read')}"}
    port = _free_port()
    proc = _start(model_dir, db, port)
    base = f"http://127.0.0.1:{port}"
    acknowledged = 0
    try:
        before = httpx.get(f"{base}/v1/recommendations/fresh", headers=reader).json()["items"]
        for n in range(20):
            batch = {"events": [{"user_id": "fresh", "item_id": f"i{n % 10}"}] * 5,
                     "idempotency_key": f"b{n}"}
            if httpx.post(f"{base}/v1/events", json=batch, headers=headers).status_code == 200:
                acknowledged += 5
        after = httpx.get(f"{base}/v1/recommendations/fresh", headers=reader).json()
        assert after["source"] == "history" and after["items"] != before
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert acknowledged == 100
    assert store.count_events() == acknowledged  # what a restarted server would read
    store.close()


#: A real server (uvicorn) whose unlearning SIGKILLs the process: argv model dir, db, port.
_KILLED_IN_ERASURE = """
import os, signal, sys
import uvicorn
import trustrec.privacy.unlearning as unlearning
from trustrec.serve import Settings, create_app
def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
unlearning.forget_users = killed
app = create_app(Settings(model_dir=sys.argv[1], db_url=sys.argv[2]))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[3]), log_level="warning")
"""


def _wait_ready(base: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
        assert proc.poll() is None, "server died during start-up"
    raise AssertionError("server did not become ready in 60 s")


def test_a_server_killed_mid_erasure_finishes_it_at_the_next_start(tmp_path: Path) -> None:
    """Events erased and the erasure recorded, then SIGKILL before the model is unlearned:
    the restarted `trustrec serve` finishes the erasure before it serves anyone."""
    import pytest

    pytest.importorskip("trustrec.privacy.unlearning")
    from trustrec.models import Recommender
    from trustrec.serve.security import create_key

    model_dir = tmp_path / "model"
    create_model("itemknn", {"k": 10}).fit(Dataset.from_frame(planted_frame())).save(model_dir)
    db = f"sqlite:///{tmp_path / 'events.db'}"
    store = EventStore(db)
    admin = {"Authorization": f"Bearer {create_key(store, 'test', 'admin')}"}
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_IN_ERASURE, str(model_dir), db,
                             str(port)], stderr=subprocess.DEVNULL)
    try:
        _wait_ready(base, proc)
        assert httpx.get(f"{base}/v1/recommendations/u7",
                         headers=admin).json()["source"] == "model"
        try:
            httpx.delete(f"{base}/v1/users/u7", headers=admin, timeout=30)
        except httpx.TransportError:
            pass  # the process died under the request
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        proc.kill()
    assert store.pending_erasures() == ["u7"] and "u7" in Recommender.load(model_dir).user_index_
    restarted = _start(model_dir, db, port)
    try:
        body = httpx.get(f"{base}/v1/recommendations/u7", headers=admin).json()
        assert body["source"] == "popular"
    finally:
        restarted.kill()
        restarted.wait(10)
    assert store.pending_erasures() == [] and "u7" not in Recommender.load(model_dir).user_index_
    store.close()


def test_killing_the_supervisor_stops_its_workers(tmp_path: Path) -> None:
    """SIGKILL `trustrec serve --workers 2`: the workers go with it and the port is free."""
    import psutil

    model_dir = tmp_path / "model"
    create_model("itemknn", {"k": 10}).fit(Dataset.from_frame(planted_frame())).save(model_dir)
    db = f"sqlite:///{tmp_path / 'events.db'}"
    port = _free_port()
    supervisor = _start(model_dir, db, port, "--workers", "2")
    workers: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2 and time.monotonic() < deadline:  # workers, not the tracker
            workers = [p for p in psutil.Process(supervisor.pid).children()
                       if _is_worker(p)]
            time.sleep(0.2)
        assert len(workers) == 2
        supervisor.send_signal(signal.SIGKILL)
        supervisor.wait(10)
        _, alive = psutil.wait_procs(workers, timeout=20)
        assert not alive, f"orphan workers: {[p.pid for p in alive]}"
        again = _start(model_dir, db, port)  # the port is free again
        again.kill()
        again.wait(10)
    finally:
        if supervisor.poll() is None:  # the test failed before its SIGKILL
            supervisor.kill()
            supervisor.wait(10)
        for worker in workers:
            if worker.is_running():
                worker.kill()


def _is_worker(process) -> bool:
    """A live uvicorn worker (not multiprocessing's resource tracker, not a child that is
    exiting while we look: uvicorn may restart a worker that died during start-up)."""
    import psutil

    try:
        return "multiprocessing.resource_tracker" not in " ".join(process.cmdline())
    except (psutil.ZombieProcess, psutil.NoSuchProcess):
        return False


def test_serve_refuses_a_bad_model_dir_in_one_line(capsys, tmp_path: Path) -> None:
    code, _, err = run(capsys, "serve", "--model-dir", tmp_path)
    assert code == 2 and "not a trustrec model directory" in err


def test_events_replay_estimates_a_models_lists(capsys, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model = create_model("itemknn", {"k": 10}).fit(Dataset.from_frame(planted_frame()))
    model.save(model_dir)
    top3 = model.recommend(model.user_index_.lookup(["u0"]), k=3).to_frame()["item_id"]
    first, second = top3[:2]
    other = next(i for i in model.item_index_.ids if i not in set(top3))
    db = f"sqlite:///{tmp_path / 'events.db'}"
    store = EventStore(db)
    store.log_served("r1", "u0", [first, second, other], [0.5, 0.25, 0.1], now=100.0)
    store.add_events([Event("u0", first, "click", 1.0, 150), Event("u0", other, "click", 1.0, 160)])
    store.close()
    code, out, err = run(capsys, "events", "replay", "--model-dir", model_dir, "--db", db)
    assert code == 0, err
    # rewards 1, 0, 1; the model shows slots 0 and 1 (weights 2, 4, 0): IPS 2/3, SNIPS 2/6
    assert "0.6667" in out and "0.3333" in out


def test_real_server_ignores_forwarded_for_from_untrusted_peers(tmp_path: Path) -> None:
    """uvicorn trusts X-Forwarded-For from loopback by default; `trustrec serve` must not:
    rotating the header must not buy an anonymous client a fresh rate-limit bucket."""
    model_dir = tmp_path / "model"
    create_model("popularity").fit(Dataset.from_frame(planted_frame())).save(model_dir)
    db = f"sqlite:///{tmp_path / 'events.db'}"
    port = _free_port()
    proc = _start(model_dir, db, port, "--rate", "0.01", "--burst", "2", "--anonymous-reads")
    try:
        codes = [httpx.get(f"http://127.0.0.1:{port}/v1/items/i1",
                           headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
                 for n in range(6)]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    assert codes == [200, 200, 429, 429, 429, 429]
