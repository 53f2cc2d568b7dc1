"""What is saved, erased or disliked stays so: killed saves, faulted erasures, several
workers, long histories (issue 14, points 10, 11, 12 and 14)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import planted_frame
from tests.serve.conftest import bearer
from trustrec.data import Dataset
from trustrec.models import Recommender, create_model
from trustrec.models.artifact import DirectoryFiles, read_manifest
from trustrec.serve import Settings
from trustrec.serve.service import Service
from trustrec.serve.store import EventStore

#: Saves the model at argv[2] over argv[1]; SIGKILLs itself right after the argv[4]-th
#: call of ``np.save`` (stage ``array``) or ``os.replace`` (stage ``commit``).
_KILLED_SAVE = """
import os, signal, sys
import numpy as np
from trustrec.models import Recommender
target, source, stage, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
model = Recommender.load(source)
def killing(real):
    calls = [0]
    def wrapper(*args, **kwargs):
        out = real(*args, **kwargs)
        calls[0] += 1
        if calls[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)
        return out
    return wrapper
if stage == "array":
    np.save = killing(np.save)
else:
    os.replace = killing(os.replace)
model.save(target)
"""


def _scores(model: Recommender) -> np.ndarray:
    return model.score(np.arange(model.n_users_))


def test_a_save_killed_at_any_point_leaves_the_old_or_the_new_model(model_dir: Path,
                                                                    tmp_path: Path) -> None:
    old = Recommender.load(model_dir)
    new_dir = tmp_path / "new"
    create_model("itemknn", {"k": 3}).fit(Dataset.from_frame(planted_frame(seed=3))).save(new_dir)
    new = Recommender.load(new_dir)
    n_arrays = len(read_manifest(DirectoryFiles(new_dir), str(new_dir))["arrays"])
    # killed after the first array, after the last array, and just after the commit
    cases = [("array", 1, old), ("array", n_arrays, old), ("commit", 1, new)]
    runs = []
    for stage, n, expected in cases:
        served = tmp_path / f"served-{stage}-{n}"
        shutil.copytree(model_dir, served)
        proc = subprocess.Popen([sys.executable, "-c", _KILLED_SAVE, str(served), str(new_dir),
                                 stage, str(n)], stderr=subprocess.PIPE)
        runs.append((served, proc, expected))
    for served, proc, expected in runs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == -signal.SIGKILL, err.decode()
        loaded = Recommender.load(served)  # complete: every hash matches
        assert loaded.config == expected.config
        np.testing.assert_array_equal(_scores(loaded), _scores(expected))
        service = Service(Settings(model_dir=served, db_url=f"sqlite:///{served}.db"))
        assert service.snapshot.model.config == expected.config  # the service starts
        service.close()
        new.save(served)  # the next save removes the killed one's leftovers
        files = {p.name for p in served.iterdir()} - {"manifest.sig"}  # the start signed it
        manifest = read_manifest(DirectoryFiles(served), str(served))
        assert files == {"manifest.json", *(e["file"] for e in manifest["arrays"].values())}


@pytest.mark.parametrize("fault", ["unlearn", "save"])
def test_a_faulted_erasure_is_never_served_and_is_finished_at_the_next_start(
        make_client, keys, model_dir: Path, tmp_path: Path, monkeypatch, fault: str) -> None:
    pytest.importorskip("trustrec.privacy.unlearning")
    own = tmp_path / "model"
    shutil.copytree(model_dir, own)
    worker, other = make_client(model_dir=own), make_client(model_dir=own)
    read = bearer(keys["read"])
    assert other.get("/v1/recommendations/u7", headers=read).json()["source"] == "model"

    def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("injected fault")

    if fault == "unlearn":
        monkeypatch.setattr("trustrec.privacy.unlearning.forget_users", boom)
    else:
        monkeypatch.setattr(Recommender, "save", boom)
    assert worker.delete("/v1/users/u7", headers=bearer(keys["admin"])).status_code == 500
    monkeypatch.undo()
    assert "u7" in Recommender.load(own).user_index_  # the model on disk still holds u7 …
    for client in (worker, other):  # … but no worker scores u7 from it
        body = client.get("/v1/recommendations/u7", headers=read).json()
        assert body["source"] == "popular" and body["events_used"] == 0
        assert client.get("/v1/explain/u7/i1", headers=read).status_code == 404
    restarted = make_client(model_dir=own)  # the start finishes the erasure
    assert "u7" not in restarted.app.state.service.snapshot.model.user_index_
    assert "u7" not in Recommender.load(own).user_index_
    assert restarted.app.state.service.store.pending_erasures() == []


def test_an_erasure_on_one_worker_holds_on_every_other(make_client, keys, model_dir: Path,
                                                       tmp_path: Path) -> None:
    pytest.importorskip("trustrec.privacy.unlearning")
    own = tmp_path / "model"
    shutil.copytree(model_dir, own)
    first, second = make_client(model_dir=own), make_client(model_dir=own)
    read = bearer(keys["read"])
    for user in ("u7", "u8"):
        assert second.get(f"/v1/recommendations/{user}",
                          headers=read).json()["source"] == "model"
    assert first.delete("/v1/users/u7", headers=bearer(keys["admin"])).json()["model"] == \
        "unlearned"
    for _ in range(10):  # at once, on the other worker too
        assert second.get("/v1/recommendations/u7", headers=read).json()["source"] == "popular"
    # the other worker serves the generation the first one committed
    assert "u7" not in second.app.state.service.snapshot.model.user_index_
    # and unlearns the next user from it, so u7 does not come back
    assert second.delete("/v1/users/u8", headers=bearer(keys["admin"])).json()["model"] == \
        "unlearned"
    on_disk = Recommender.load(own)
    assert "u7" not in on_disk.user_index_ and "u8" not in on_disk.user_index_
    assert "u7" not in first.app.state.service.snapshot.model.user_index_
    assert first.get("/v1/recommendations/u8", headers=read).json()["source"] == "popular"


def test_a_dislike_holds_after_any_number_of_newer_events(make_client, keys) -> None:
    client = make_client()
    settings_limit = client.app.state.service.settings.history_limit
    write = bearer(keys["write"])
    first = client.get("/v1/recommendations/u0", params={"k": 1},
                       headers=write).json()["items"][0]["item_id"]
    client.post("/v1/events", headers=write,
                json={"events": [{"user_id": "u0", "item_id": first, "type": "dislike"}]})
    others = [f"i{n}" for n in range(40) if f"i{n}" != first]
    newer = [{"user_id": "u0", "item_id": others[n % len(others)], "type": "click"}
             for n in range(settings_limit + 100)]
    assert client.post("/v1/events", json={"events": newer}, headers=write).status_code == 200
    listed = client.get("/v1/recommendations/u0", params={"k": 40, "exclude_seen": "false"},
                        headers=write)
    assert first not in [row["item_id"] for row in listed.json()["items"]]
    # a later positive event on the item lifts the dislike, as the docs say
    client.post("/v1/events", headers=write,
                json={"events": [{"user_id": "u0", "item_id": first, "type": "like"}]})
    listed = client.get("/v1/recommendations/u0", params={"k": 40, "exclude_seen": "false"},
                        headers=write)
    assert first in [row["item_id"] for row in listed.json()["items"]]


def test_the_store_records_an_erasure_with_the_deletion(tmp_path: Path) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'events.db'}")
    from trustrec.serve.store import Event

    store.add_events([Event("u1", "i1"), Event("u2", "i1")])
    before = store.user_version("u1")
    assert store.delete_user("u1") == 1
    after = store.user_version("u1")
    assert not before.erased and after.erased and after.n_events == 0
    assert store.pending_erasures() == ["u1"]
    store.finish_erasures(["u1"])
    assert store.pending_erasures() == [] and store.user_version("u1").erased
    assert not store.user_version("u2").erased
    store.close()


def test_a_service_save_is_signed_at_its_commit_point(model_dir: Path, tmp_path: Path,
                                                      monkeypatch) -> None:
    import os

    from trustrec.errors import ArtifactError
    from trustrec.models.artifact import MANIFEST
    from trustrec.serve.signing import server_key, signature, verify_artifact

    own = tmp_path / "model"
    shutil.copytree(model_dir, own)
    store = EventStore(f"sqlite:///{tmp_path / 'sign.db'}")
    key = server_key(store)
    model = Recommender.load(own)
    real, verified = os.replace, []

    def committing(src: object, dst: object) -> None:
        real(src, dst)
        if Path(str(dst)).name == MANIFEST:  # the very moment the generation is committed
            verified.append(verify_artifact(own, key) == (own / MANIFEST).read_bytes())

    monkeypatch.setattr(os, "replace", committing)
    model.save(own, signature(key))
    monkeypatch.undo()
    assert verified == [True]  # no moment when the committed generation is unsigned
    model.save(own)  # a save without the key (train --out) is refused until it is signed
    with pytest.raises(ArtifactError, match="does not match"):
        verify_artifact(own, key)
    store.close()
