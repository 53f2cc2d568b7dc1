"""``ItemVectors``: round trip, and refusal of changed or mismatched files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trustrec.errors import ArtifactError
from trustrec.text import ItemVectors


@pytest.mark.parametrize("ids", [np.array(["a", "bb", "c"]), np.array([10, 20, 30])])
def test_round_trip_keeps_ids_vectors_and_provenance(tmp_path, ids) -> None:
    vectors = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    ItemVectors(ids, vectors, "model@abc", ("title", "genres")).save(tmp_path)
    loaded = ItemVectors.load(tmp_path)
    assert loaded.item_ids.tolist() == ids.tolist()
    assert loaded.item_ids.dtype.kind == ids.dtype.kind
    np.testing.assert_array_equal(loaded.vectors, vectors)
    assert (loaded.model_id, loaded.fields) == ("model@abc", ("title", "genres"))


def test_changed_array_is_refused(tmp_path) -> None:
    ItemVectors(np.array([1, 2]), np.eye(2, dtype=np.float32), "m").save(tmp_path)
    np.save(tmp_path / "vectors.npy", np.zeros((2, 2), np.float32))
    with pytest.raises(ArtifactError, match=r"vectors\.npy: SHA-256 differs"):
        ItemVectors.load(tmp_path)


def test_wrong_format_and_missing_manifest_are_refused(tmp_path) -> None:
    with pytest.raises(ArtifactError, match=r"manifest\.json: cannot read"):
        ItemVectors.load(tmp_path)
    ItemVectors(np.array([1]), np.ones((1, 2), np.float32), "m").save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["format"] = "something-else"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="expected format 'trustrec-item-vectors'"):
        ItemVectors.load(tmp_path)
