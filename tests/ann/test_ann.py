"""ANN retrieval: built at save time above a threshold, verified on load, near-exact lists —
for a factor model (``als``) and the text model ``content`` (stub encoder, no download)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.models.test_hybrid import BagOfWordsEncoder
from trustrec.data import Dataset, synthetic
from trustrec.errors import ArtifactError, ConfigError
from trustrec.models import Recommender, create_model
from trustrec.models.als import Als

pytest.importorskip("faiss")

from trustrec.ann import AnnIndex, AnnSettings
from trustrec.models.ann_retrieval import build_ann


@pytest.fixture(scope="module")
def data() -> Dataset:
    return synthetic.generate(n_users=300, n_items=400, n_interactions=9000, seed=2,
                              explicit=False)


@pytest.fixture(scope="module", params=["als", "content"])
def model(request, data) -> Recommender:
    if request.param == "als":
        return Als(factors=16, regularization=1.0, iterations=5, seed=0).fit(data)
    return create_model("content", {}).use_encoder(BagOfWordsEncoder()).fit(data)


def test_index_finds_the_exact_inner_product_neighbours() -> None:
    rng = np.random.default_rng(0)
    items = rng.normal(size=(2000, 16)).astype(np.float32) * rng.uniform(0.2, 3.0, (2000, 1))
    queries = rng.normal(size=(50, 16)).astype(np.float32)
    index = AnnIndex.build(items, AnnSettings(m=16, ef_construction=100, ef_search=200))
    exact = np.argsort(-(queries @ items.T), axis=1)[:, :10]
    found = index.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, found, strict=True)])
    assert recall >= 0.95
    again = AnnIndex.from_bytes(index.to_bytes(), **index.params())
    np.testing.assert_array_equal(again.search(queries, 10), found)


def test_small_catalogue_saves_without_index(model, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TRUSTREC_ANN_MIN_ITEMS", str(model.n_items_ + 1))
    path = model.save(tmp_path / "m")
    assert "ann" not in json.loads((path / "manifest.json").read_text()).get("extra", {})
    assert Recommender.load(path).ann_ is None


def test_large_catalogue_gets_a_verified_index_and_near_exact_lists(model, tmp_path,
                                                                     monkeypatch) -> None:
    monkeypatch.setenv("TRUSTREC_ANN_MIN_ITEMS", "100")
    path = model.save(tmp_path / "m")
    model.ann_ = None  # the fitted model itself stays exact for the comparison below
    manifest = json.loads((path / "manifest.json").read_text())
    info = manifest["extra"]["ann"]
    assert info["backend"] == "faiss-hnsw" and 0.9 <= info["recall_at_10"] <= 1.0
    assert "sha256" in manifest["arrays"]["state.ann_index"]
    loaded = Recommender.load(path)
    assert loaded.ann_ is not None and loaded.ann_info_ == info
    again = json.loads((loaded.save(tmp_path / "again") / "manifest.json").read_text())
    assert again["extra"]["ann"] == info  # a loaded index is saved as it is, not rebuilt
    # the same index bytes (saved under this generation's own file name)
    same_bytes = {k: v for k, v in again["arrays"]["state.ann_index"].items() if k != "file"}
    assert same_bytes == {k: v for k, v in manifest["arrays"]["state.ann_index"].items()
                          if k != "file"}
    users = np.arange(0, model.n_users_, 3)
    approx = loaded.recommend(users, 10)
    exact = model.recommend(users, 10)
    seen = model.seen_[users].toarray() > 0
    assert not np.take_along_axis(seen, approx.items, axis=1).any()  # seen items masked
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(approx.items, exact.items,
                                                                   strict=True)])
    assert overlap >= 0.95
    same = (approx.items == exact.items).all(axis=1)  # re-scored exactly: equal lists agree
    np.testing.assert_allclose(approx.scores[same], exact.scores[same], rtol=1e-5)
    cands = loaded.recommend(users[:5], 5, candidates=np.arange(50))
    assert (cands.items < 50).all()  # candidate sets take the exact path


def test_tampered_index_is_refused(model, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TRUSTREC_ANN_MIN_ITEMS", "100")
    path = model.save(tmp_path / "m")
    model.ann_ = None
    manifest = json.loads((path / "manifest.json").read_text())
    file = path / manifest["arrays"]["state.ann_index"]["file"]
    data = bytearray(file.read_bytes())
    data[-1] ^= 0xFF
    file.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="SHA-256"):
        Recommender.load(path)


def test_settings_from_environment(monkeypatch) -> None:
    monkeypatch.setenv("TRUSTREC_ANN_EF_SEARCH", "64")
    assert AnnSettings.from_env().ef_search == 64
    monkeypatch.setenv("TRUSTREC_ANN_M", "many")
    with pytest.raises(ConfigError, match="TRUSTREC_ANN_M"):
        AnnSettings.from_env()
    assert not AnnSettings(min_items=0).wants_index(10**7)


def test_build_ann_reports_recall_and_refit_drops_the_index(model, data) -> None:
    info = build_ann(model, AnnSettings(m=8, ef_construction=40, ef_search=16,
                                        recall_queries=100))
    assert model.ann_ is not None
    model.fit(data)  # an index of the previous fit would be stale
    assert model.ann_ is None
    assert info["recall_users"] == 100 and 0.0 < info["recall_at_10"] <= 1.0


def test_rating_model_scores_through_the_index_equal_its_exact_scores(monkeypatch) -> None:
    ratings = synthetic.generate(n_users=200, n_items=300, n_interactions=6000, seed=4)
    mf = create_model("mf", {}).fit(ratings)  # scores add a global mean, user bias, clipping
    monkeypatch.setenv("TRUSTREC_ANN_MIN_ITEMS", "100")
    build_ann(mf, AnnSettings.from_env())
    users = np.arange(0, mf.n_users_, 4)
    approx = mf.recommend(users, 10)
    np.testing.assert_allclose(approx.scores, mf.predict(np.repeat(users, 10),
                                                         approx.items.ravel()).reshape(-1, 10),
                               rtol=1e-6)
