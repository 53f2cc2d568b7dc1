"""``trustrec data keygen|pseudonymize|encrypt|decrypt``, ``forget``, ``audit privacy`` and
encrypted models in ``train``/``recommend``."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.cli.test_cli import run
from trustrec.data import synthetic
from trustrec.models import Recommender


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    ds = synthetic.generate(n_users=120, n_items=60, n_interactions=2400, seed=5)
    return synthetic.to_files(ds, tmp_path_factory.mktemp("data"))


@pytest.fixture
def key(tmp_path, capsys):
    path = tmp_path / "secrets" / "key.hex"
    code, _, err = run(capsys, "data", "keygen", path)
    assert code == 0, err
    return path


def test_pseudonymize(capsys, tmp_path, files, key) -> None:
    out = tmp_path / "pseudo"
    code, stdout, err = run(capsys, "data", "pseudonymize", files["interactions"], out,
                            "--key-file", key, "--users", files["users"],
                            "--quasi-identifiers", "gender,age_group,country",
                            "--sensitive", "occupation")
    assert code == 0, err
    frame = pd.read_csv(out / "interactions.csv", dtype=str)
    original = pd.read_csv(files["interactions"], dtype=str)
    assert len(frame) == len(original)
    assert not set(frame["user_id"]) & set(original["user_id"])
    assert list(frame["item_id"]) == list(original["item_id"])
    users = pd.read_csv(out / "users.csv", dtype=str)
    assert set(users["user_id"]) == set(frame["user_id"])
    assert "anonymity" in stdout
    again = tmp_path / "again"
    assert run(capsys, "data", "pseudonymize", files["interactions"], again, "--key-file",
               key)[0] == 0
    assert list(pd.read_csv(again / "interactions.csv", dtype=str)["user_id"]) == \
        list(frame["user_id"])


def test_key_inside_the_output_is_refused(capsys, tmp_path, files) -> None:
    out = tmp_path / "pseudo"
    key = out / "key.hex"
    assert run(capsys, "data", "keygen", key)[0] == 0
    code, _, err = run(capsys, "data", "pseudonymize", files["interactions"], out,
                       "--key-file", key)
    assert code == 2 and "which it protects" in err


def test_key_in_a_parent_folder_of_the_input_is_accepted(capsys, tmp_path, monkeypatch,
                                                         files) -> None:
    # run from ~ with the key in ~/keys and the data in ~: the README's own layout
    home = tmp_path / "home"
    home.mkdir()
    ratings = home / "ratings.csv"
    ratings.write_bytes(files["interactions"].read_bytes())
    monkeypatch.chdir(home)
    assert run(capsys, "data", "keygen", home / "keys" / "trustrec.key")[0] == 0
    code, _, err = run(capsys, "data", "pseudonymize", "ratings.csv", "pseudo/",
                       "--key-file", "keys/trustrec.key")
    assert code == 0, err
    assert (home / "pseudo" / "interactions.csv").is_file()


def test_encrypted_model_train_recommend_forget(capsys, tmp_path, files, key) -> None:
    model = tmp_path / "model"
    code, _, err = run(capsys, "train", "--interactions", files["interactions"], "--model",
                       "ease", "--param", "l2=50", "--out", model, "--encrypt-key-file", key)
    assert code == 0, err
    assert (model / "encrypted.json").is_file() and not (model / "manifest.json").exists()
    users = tmp_path / "users.txt"
    ids = pd.read_csv(files["interactions"], dtype=str)["user_id"].unique()[:3]
    users.write_text("\n".join(ids) + "\n")
    code, _, err = run(capsys, "recommend", "--model-dir", model, "--users", users, "--out",
                       tmp_path / "recs.csv")
    assert code == 2 and "encrypted" in err
    code, _, err = run(capsys, "recommend", "--model-dir", model, "--users", users, "--out",
                       tmp_path / "recs.csv", "--key-file", key)
    assert code == 0, err
    assert len(pd.read_csv(tmp_path / "recs.csv")) == 30
    code, stdout, err = run(capsys, "forget", "--model-dir", model, "--user", ids[0],
                            "--key-file", key, "--verify")
    assert code == 0, err
    assert "forgot 1 user" in stdout
    code, _, err = run(capsys, "forget", "--model-dir", model, "--user", ids[0],
                       "--key-file", key)
    assert code == 2 and "unknown user" in err


def test_data_encrypt_decrypt(capsys, tmp_path, files, key) -> None:
    enc, dec = tmp_path / "enc" / "i.enc", tmp_path / "plain" / "i.csv"
    assert run(capsys, "data", "encrypt", files["interactions"], enc, "--key-file", key,
               "--role", "interactions")[0] == 0
    assert run(capsys, "data", "decrypt", enc, dec, "--key-file", key,
               "--role", "interactions")[0] == 0
    assert dec.read_bytes() == files["interactions"].read_bytes()
    other = tmp_path / "other" / "k.hex"
    run(capsys, "data", "keygen", other)
    code, _, err = run(capsys, "data", "decrypt", enc, dec, "--key-file", other,
                       "--role", "interactions")
    assert code == 2 and "authentication failed" in err


def test_swapped_data_files_are_refused(capsys, tmp_path, files, key) -> None:
    """The attack: swap ratings.enc and users.enc; the pipeline decrypting its ratings must
    not get the user table (nor the reverse, nor the right file under another role)."""
    store = tmp_path / "store"
    for name, role in (("interactions", "interactions"), ("users", "users")):
        assert run(capsys, "data", "encrypt", files[name], store / f"{role}.enc",
                   "--key-file", key, "--role", role)[0] == 0
    ratings, users = store / "interactions.enc", store / "users.enc"
    blob = ratings.read_bytes()
    ratings.write_bytes(users.read_bytes())
    users.write_bytes(blob)
    for src, role in ((ratings, "interactions"), (users, "users")):
        code, _, err = run(capsys, "data", "decrypt", src, tmp_path / "x.csv", "--key-file",
                           key, "--role", role)
        assert code == 2 and "swapped" in err
        assert not (tmp_path / "x.csv").exists()
    users.rename(store / "kept.enc")
    ratings.rename(users)
    assert run(capsys, "data", "decrypt", users, tmp_path / "u.csv", "--key-file", key,
               "--role", "users")[0] == 0  # swapped back: fine
    code, _, err = run(capsys, "data", "decrypt", users, tmp_path / "x.csv", "--key-file", key,
                       "--role", "interactions")
    assert code == 2 and "role 'users'" in err


def test_shared_or_weak_key_files_are_refused(capsys, tmp_path, files, key) -> None:
    key.chmod(0o644)
    code, _, err = run(capsys, "data", "encrypt", files["interactions"], tmp_path / "out" / "o.enc",
                       "--key-file", key, "--role", "interactions")
    assert code == 2 and "chmod 600" in err
    weak = tmp_path / "secrets" / "weak.key"
    weak.write_text("correct horse battery staple correct horse\n")
    weak.chmod(0o600)
    code, _, err = run(capsys, "data", "encrypt", files["interactions"], tmp_path / "out" / "o.enc",
                       "--key-file", weak, "--role", "interactions")
    assert code == 2 and "passphrase is not a key" in err


def test_audit_privacy(capsys, tmp_path, files) -> None:
    out = tmp_path / "audit"
    code, _, err = run(capsys, "audit", "privacy", "--interactions", files["interactions"],
                       "--model", "itemknn", "--out", out)
    assert code == 0, err
    result = json.loads((out / "privacy.json").read_text())
    assert [a["attack"].split(" ")[0] for a in result["attacks"]] == ["threshold", "shadow"]
    assert 0.0 <= result["attacks"][0]["auc"] <= 1.0
    assert "privacy.html" in (out / "index.html").read_text()
    assert "membership" in (out / "privacy.html").read_text().lower()


def test_audit_privacy_compares_the_dp_models_and_advises(capsys, tmp_path, files) -> None:
    out = tmp_path / "audit"
    code, _, err = run(capsys, "audit", "privacy", "--interactions", files["interactions"],
                       "--model", "popularity", "--dp-curve", "--out", out)
    assert code == 2 and "public source" in err  # no item table: no DP training
    code, printed, err = run(capsys, "audit", "privacy", "--interactions",
                             files["interactions"], "--items", files["items"], "--model",
                             "popularity", "--dp-curve", "--out", out)
    assert code == 0, err
    for text in ("dp_ease", "dp_ease_topk", "dp_popularity", "user (entire history)", "state.B",
                 "state.item_scores", "which DP model to release", "outside the guarantee"):
        assert text in printed, text
    result = json.loads((out / "privacy.json").read_text())
    assert [a["epsilon"] for a in result["advice"]] == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_forget_with_training_data_for_models_that_need_it(capsys, tmp_path, files) -> None:
    model = tmp_path / "mf"
    code, _, err = run(capsys, "train", "--interactions", files["interactions"], "--model", "mf",
                       "--param", "factors=4", "--param", "samples=4", "--param", "burn_in=2",
                       "--out", model)
    assert code == 0, err
    user = pd.read_csv(files["interactions"], dtype=str)["user_id"].iloc[0]
    code, _, err = run(capsys, "forget", "--model-dir", model, "--user", user)
    assert code == 2 and "pass the training dataset" in err
    code, _, err = run(capsys, "forget", "--model-dir", model, "--user", user,
                       "--interactions", files["interactions"])
    assert code == 0, err
    assert user not in Recommender.load(model).user_index_
