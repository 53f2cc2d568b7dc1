"""Pseudonyms, key files and quasi-identifier generalisation."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trustrec.data import Dataset
from trustrec.errors import ConfigError
from trustrec.models import create_model
from trustrec.privacy.anonymity import anonymity_report, generalize_users
from trustrec.privacy.keys import check_key_location, derive_key, generate_key, read_key
from trustrec.privacy.pseudonymize import pseudonymize_dataset, pseudonyms

KEY_A, KEY_B = b"a" * 32, b"b" * 32


def test_pseudonyms_stable_under_a_key_and_different_under_another() -> None:
    ids = ["u1", "u2", "u1", "007"]
    a1, a2 = pseudonyms(ids, KEY_A), pseudonyms(list(reversed(ids)), KEY_A)
    assert a1[0] == a1[2] and len(set(a1)) == 3
    np.testing.assert_array_equal(a1, a2[::-1])
    b = pseudonyms(ids, KEY_B)
    assert not set(a1) & set(b)
    assert not set(a1) & set(pseudonyms(ids, KEY_A, kind="item"))
    assert all(len(p) == 32 and int(p, 16) >= 0 for p in a1)


def test_integer_and_string_ids_of_same_text_share_pseudonym() -> None:
    assert pseudonyms([7], KEY_A)[0] == pseudonyms(["7"], KEY_A)[0]


def test_pseudonymised_dataset_trains_the_same_model(planted: Dataset) -> None:
    pseudo = pseudonymize_dataset(planted, KEY_A, items=True)
    assert not set(pseudo.user_index.ids) & set(planted.user_index.ids)
    assert not set(pseudo.item_index.ids) & set(planted.item_index.ids)
    a = create_model("ease", {"l2": 10.0}).fit(planted)
    b = create_model("ease", {"l2": 10.0}).fit(pseudo)
    users = np.arange(planted.n_users)
    np.testing.assert_array_equal(a.recommend(users, 5).items, b.recommend(users, 5).items)


def test_side_tables_follow_the_pseudonyms() -> None:
    frame = pd.DataFrame({"user_id": ["x", "y"], "item_id": ["i", "j"], "rating": [1.0, 2.0]})
    users = pd.DataFrame({"user_id": ["x", "y"], "age": [23, 41]})
    ds = pseudonymize_dataset(Dataset.from_frame(frame, users=users), KEY_A)
    assert list(ds.users["user_id"]) == list(ds.user_index.ids)
    assert list(ds.users["age"]) == [23, 41]


def test_key_files(tmp_path) -> None:
    path = generate_key(tmp_path / "keys" / "k.hex")
    assert len(read_key(path)) == 32
    assert path.stat().st_mode & 0o077 == 0
    with pytest.raises(ConfigError, match="exists already"):
        generate_key(path)
    short = tmp_path / "short"
    short.write_text("ab" * 8)
    short.chmod(0o600)
    with pytest.raises(ConfigError, match="at least 32"):
        read_key(short)
    with pytest.raises(ConfigError, match="not found"):
        read_key(tmp_path / "missing")
    assert derive_key(KEY_A, "x") != derive_key(KEY_A, "y")


def _private(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    path.chmod(0o600)
    return path


def test_key_files_others_can_read_are_refused(tmp_path) -> None:
    path = generate_key(tmp_path / "k.hex")
    for mode in (0o640, 0o604, 0o620):
        path.chmod(mode)
        with pytest.raises(ConfigError, match="chmod 600"):
            read_key(path)
    path.chmod(0o400)
    assert len(read_key(path)) == 32


@pytest.mark.parametrize("content", [
    "correct horse battery staple, my long passphrase!",  # text, not hex
    "00" * 32,  # hex, but one byte value
    "0123456789abcdef" * 4,  # hex, a repeating pattern
    bytes(range(8)) * 8,  # raw binary, a repeating pattern
])
def test_low_entropy_key_material_is_refused(tmp_path, content) -> None:
    with pytest.raises(ConfigError, match=r"passphrase is not a key|not random"):
        read_key(_private(tmp_path / "weak.key", content))


def test_random_raw_and_hex_keys_are_accepted(tmp_path) -> None:
    while True:  # random bytes that happen to be valid UTF-8 would read as a passphrase
        raw = os.urandom(64)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            break
    assert read_key(_private(tmp_path / "raw.key", raw)) == raw
    key = os.urandom(32)
    assert read_key(_private(tmp_path / "hex.key", key.hex().upper() + "\n")) == key


def test_key_travelling_with_what_it_protects_is_refused(tmp_path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"inside .*out, which it protects"):
        check_key_location(out / "key.hex", outputs=[out])  # output folder, not made yet
    data = tmp_path / "ml" / "ratings.csv"
    data.parent.mkdir()
    data.write_text("user_id,item_id\n")
    with pytest.raises(ConfigError, match="the same file as"):
        check_key_location(data, inputs=[data])
    with pytest.raises(ConfigError, match="inside"):  # a data folder is shared as a whole
        check_key_location(data.parent / "key.hex", inputs=[data.parent])
    # the README's layout: ~/keys/trustrec.key next to ~/ratings.csv, output in ~/pseudo
    home = tmp_path
    (home / "ratings.csv").write_text("user_id,item_id\n")
    check_key_location(home / "keys" / "trustrec.key", inputs=[home / "ratings.csv"],
                       outputs=[home / "pseudo"])
    check_key_location(data.parent / "key.hex", inputs=[data], outputs=[out])


def test_generalisation_and_anonymity_report() -> None:
    users = pd.DataFrame({"user_id": range(6), "age": [21, 25, 29, 33, 38, 61],
                          "zip": ["02139", "02142", "02139", "94110", "94117", "10001"],
                          "occupation": ["a", "b", "a", "c", "c", "d"]})
    general = generalize_users(users, age_band=10, zip_digits=2)
    assert list(general["age"]) == ["20-29"] * 3 + ["30-39"] * 2 + ["60-69"]
    assert list(general["zip"]) == ["02*"] * 3 + ["94*"] * 2 + ["10*"]
    report = anonymity_report(general, ["age", "zip"], "occupation", k_target=2)
    assert (report.k, report.n_groups, report.rows_below_target) == (1, 3, 1)
    assert report.l_diversity == 1
    raw = anonymity_report(users, ["age", "zip"], k_target=2)
    assert raw.k == 1 and raw.n_groups == 6 and raw.l_diversity is None
