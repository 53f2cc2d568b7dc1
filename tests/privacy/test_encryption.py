"""AES-256-GCM for data files and model directories."""

from __future__ import annotations

import builtins
import io
from pathlib import Path

import numpy as np
import pytest

from trustrec.data import Dataset
from trustrec.errors import ArtifactError, ConfigError
from trustrec.models import create_model
from trustrec.privacy.encryption import (
    decrypt_bytes,
    decrypt_file,
    encrypt_bytes,
    encrypt_file,
    load_model,
    save_model,
)

KEY, OTHER = bytes(range(32)), bytes(range(1, 33))


def test_file_round_trip_and_refusals(tmp_path) -> None:
    src = tmp_path / "ratings.csv"
    src.write_text("user_id,item_id\nu1,i1\n")
    enc = encrypt_file(src, tmp_path / "ratings.csv.enc", KEY, "interactions")
    assert b"u1" not in enc.read_bytes()
    assert decrypt_file(enc, tmp_path / "plain.csv", KEY, "interactions").read_text() == \
        src.read_text()
    with pytest.raises(ArtifactError, match="wrong key"):
        decrypt_file(enc, tmp_path / "x.csv", OTHER, "interactions")
    blob = bytearray(enc.read_bytes())
    blob[-20] ^= 0x01
    enc.write_bytes(bytes(blob))
    with pytest.raises(ArtifactError, match="tampered"):
        decrypt_file(enc, tmp_path / "x.csv", KEY, "interactions")
    with pytest.raises(ArtifactError, match="not a trustrec-encrypted file"):
        decrypt_file(src, tmp_path / "x.csv", KEY, "interactions")
    with pytest.raises(ConfigError, match="reserved"):
        encrypt_file(src, tmp_path / "m.enc", KEY, "model")


def test_swapped_or_renamed_data_files_are_refused(tmp_path) -> None:
    """The attack of issue 13: ratings.enc and users.enc swapped on disk."""
    ratings, users = tmp_path / "ratings.csv", tmp_path / "users.csv"
    ratings.write_text("user_id,item_id\nu1,i1\n")
    users.write_text("user_id,age\nu1,23\n")
    r_enc = encrypt_file(ratings, tmp_path / "ratings.enc", KEY, "interactions")
    u_enc = encrypt_file(users, tmp_path / "users.enc", KEY, "users")
    r_blob, u_blob = r_enc.read_bytes(), u_enc.read_bytes()
    r_enc.write_bytes(u_blob)
    u_enc.write_bytes(r_blob)
    with pytest.raises(ArtifactError, match="swapped"):
        decrypt_file(r_enc, tmp_path / "x.csv", KEY, "interactions")
    with pytest.raises(ArtifactError, match="swapped"):
        decrypt_file(u_enc, tmp_path / "x.csv", KEY, "users")
    # same role, another name: a second interactions file passed off as the first
    other = encrypt_file(ratings, tmp_path / "old-ratings.enc", KEY, "interactions")
    r_enc.write_bytes(other.read_bytes())
    with pytest.raises(ArtifactError, match=r"name 'old-ratings\.enc'"):
        decrypt_file(r_enc, tmp_path / "x.csv", KEY, "interactions")
    # the right name but another role
    with pytest.raises(ArtifactError, match="role 'interactions'"):
        decrypt_file(other, tmp_path / "x.csv", KEY, "users")
    assert not (tmp_path / "x.csv").exists()


def test_a_forged_header_does_not_verify() -> None:
    """Rewriting the plain header to claim the expected role fails authentication."""
    blob = encrypt_bytes(b"secret", KEY, "users", "users.enc")
    forged = blob.replace(b'"role":"users"', b'"role":"items"')
    assert len(forged) == len(blob)
    with pytest.raises(ArtifactError, match="authentication failed"):
        decrypt_bytes(forged, KEY, "items", "users.enc")
    assert decrypt_bytes(blob, KEY, "users", "users.enc") == b"secret"


def test_first_format_files_are_refused() -> None:
    old = b"TRRENC1\x00" + bytes(12) + bytes(40)
    with pytest.raises(ArtifactError, match="TRRENC1"):
        decrypt_bytes(old, KEY, "interactions", "ratings.enc")


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


@pytest.fixture
def writes(monkeypatch) -> list[str]:
    """Every path opened for writing (any ``open`` in w/a/x/+ mode) while the test runs."""
    seen: list[str] = []
    real = io.open

    def spy(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, Path)) and any(c in mode for c in "wax+"):
            seen.append(str(file))
        return real(file, mode, *args, **kwargs)

    monkeypatch.setattr(io, "open", spy)
    monkeypatch.setattr(builtins, "open", spy)
    return seen


def test_encrypted_models_never_write_plaintext(model, tmp_path, writes) -> None:
    path = save_model(model, tmp_path / "m", KEY)
    assert writes and all(Path(w).parent == path for w in writes)
    assert all(w.endswith((".enc.tmp", "encrypted.json.tmp")) for w in writes)
    writes.clear()
    loaded = load_model(path, KEY)
    assert writes == []  # decrypted in memory: nothing written, no temporary directory
    users = np.arange(model.n_users_)
    np.testing.assert_array_equal(loaded.score(users), model.score(users))
