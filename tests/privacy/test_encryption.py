"""AES-256-GCM for data files and model directories."""

from __future__ import annotations

import numpy as np
import pytest

from trustrec.data import Dataset
from trustrec.errors import ArtifactError
from trustrec.models import create_model
from trustrec.privacy.encryption import decrypt_file, encrypt_file, load_model, save_model

KEY, OTHER = bytes(range(32)), bytes(range(1, 33))


def test_file_round_trip_and_refusals(tmp_path) -> None:
    src = tmp_path / "ratings.csv"
    src.write_text("user_id,item_id\nu1,i1\n")
    enc = encrypt_file(src, tmp_path / "ratings.csv.enc", KEY)
    assert b"u1" not in enc.read_bytes()
    assert decrypt_file(enc, tmp_path / "plain.csv", KEY).read_text() == src.read_text()
    with pytest.raises(ArtifactError, match="wrong key"):
        decrypt_file(enc, tmp_path / "x.csv", OTHER)
    blob = bytearray(enc.read_bytes())
    blob[-20] ^= 0x01
    enc.write_bytes(bytes(blob))
    with pytest.raises(ArtifactError, match="tampered"):
        decrypt_file(enc, tmp_path / "x.csv", KEY)
    with pytest.raises(ArtifactError, match="not a trustrec-encrypted file"):
        decrypt_file(src, tmp_path / "x.csv", KEY)


@pytest.fixture
def model(planted: Dataset):
    return create_model("itemknn", {"k": 10}).fit(planted)


def test_encrypted_model_round_trip_without_key_material(model, tmp_path) -> None:
    path = save_model(model, tmp_path / "m", KEY)
    assert not (path / "manifest.json").exists()
    blobs = b"".join(f.read_bytes() for f in path.iterdir())
    assert KEY not in blobs and KEY.hex().encode() not in blobs and b"itemknn" not in blobs
    loaded = load_model(path, KEY)
    users = np.arange(model.n_users_)
    np.testing.assert_array_equal(loaded.score(users), model.score(users))
    with pytest.raises(ArtifactError, match="encrypted; give its key"):
        load_model(path)
    with pytest.raises(ArtifactError, match="authentication failed"):
        load_model(path, OTHER)


def test_tampered_or_swapped_model_files_are_refused(model, tmp_path) -> None:
    path = save_model(model, tmp_path / "m", KEY)
    victim = sorted(path.glob("state.*.enc"))[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="tampered"):
        load_model(path, KEY)
    fresh = save_model(model, tmp_path / "n", KEY)
    a, b = sorted(fresh.glob("state.*.enc"))[:2]
    a_bytes = a.read_bytes()
    a.write_bytes(b.read_bytes())
    b.write_bytes(a_bytes)
    with pytest.raises(ArtifactError, match="renamed"):
        load_model(fresh, KEY)


def test_plain_model_given_a_key_is_refused(model, tmp_path) -> None:
    path = save_model(model, tmp_path / "plain")
    assert type(load_model(path)) is type(model)
    with pytest.raises(ArtifactError, match="not an encrypted model"):
        load_model(path, KEY)
    with pytest.raises(ArtifactError, match="holds a plain model"):
        save_model(model, path, KEY)
