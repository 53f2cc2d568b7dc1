"""``llm_rerank``: contract (with the bundled language model), the validation-chosen blend,
persistence without the language model's weights, and the identity check."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from tests.models.contract import ModelContract
from trustrec.data import Dataset
from trustrec.data.synthetic import generate
from trustrec.errors import ConfigError, ModelError
from trustrec.llm import LanguageModel
from trustrec.llm.local import TransformersLM
from trustrec.models import Recommender, create_model
from trustrec.models.llm_rerank import blend, recent_items

PARAMS: dict[str, Any] = {"retriever": "ease:l2=20", "candidates": 5, "history_items": 3,
                          "validation_users": 8, "weights": "0.5,1"}


@pytest.fixture(scope="module")
def llm_cache_env(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("llm-answers"))


@pytest.fixture(autouse=True)
def _answers_cached(llm_cache_env, monkeypatch) -> None:
    """Every language model these tests open (also by a loaded model) shares one cache."""
    monkeypatch.setenv("TRUSTREC_LLM_CACHE", llm_cache_env)
    for name in ("TRUSTREC_LLM_BACKEND", "TRUSTREC_LLM_BASE_URL", "TRUSTREC_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def shared_lm(bundled_lm, llm_cache_env) -> TransformersLM:
    """The bundled model's loaded weights with the shared answer cache."""
    from trustrec.llm import LLMCache

    lm = TransformersLM(cache=LLMCache(llm_cache_env))
    lm._loaded, lm._folder = bundled_lm._load(), bundled_lm.folder()
    return lm


class TestLLMRerank(ModelContract):
    model_name = "llm_rerank"
    params: ClassVar[dict[str, Any]] = PARAMS
    history_exact = False  # the prompt lists the given history in its given order

    @pytest.fixture(autouse=True)
    def _lm(self, shared_lm) -> None:
        self.lm = shared_lm

    @pytest.fixture
    def planted(self) -> Dataset:  # the contract's data, here with titles and genres
        return generate(n_users=40, n_items=30, density=0.2, n_topics=3, seed=0,
                        explicit=False)

    def make(self) -> Recommender:
        return super().make().use_llm(self.lm)


class ScriptedLM(LanguageModel):
    """Log-probabilities from a fixed table (title → score), the same for every prompt
    with a history; an empty history scores 0 (the PMI's reference)."""

    backend = "scripted"

    def __init__(self, table: dict[str, float], model_id: str = "scripted@1") -> None:
        super().__init__(None)
        self.table, self._id, self.calls = table, model_id, 0

    @property
    def model_id(self) -> str:
        return self._id

    def _logprob(self, prompt, continuations):
        self.calls += 1
        if "recently chose" not in prompt:
            return [0.0] * len(continuations)
        return [self.table.get(c.strip(), -5.0) for c in continuations]


def oracle_table(data: Dataset, split) -> dict[str, float]:
    """Titles of held-out items score high: an oracle language model."""
    titles = data.items["title"].to_numpy()
    held = np.unique(split.test.item)
    return {str(titles[i]): 0.0 for i in held}


def test_validation_picks_the_llm_when_it_helps_and_zero_when_it_hurts() -> None:
    from trustrec.data.split import validation_split

    data = generate(n_users=80, n_items=60, density=0.15, n_topics=3, seed=1, explicit=False)
    cfg = {**PARAMS, "validation_users": 80, "candidates": 20}
    inner = validation_split(data, 0.2, 0)
    good = ScriptedLM(oracle_table(data, inner))
    model = create_model("llm_rerank", cfg).use_llm(good).fit(data)
    ndcg = model.validation_["ndcg"]
    assert model.weight_ > 0 and ndcg[str(model.weight_)] > ndcg["0.0"]
    titles = data.items["title"].to_numpy()
    liar = ScriptedLM({str(t): 0.0 for i, t in enumerate(titles)
                       if i not in set(inner.test.item)})  # held-out items score low
    bad = create_model("llm_rerank", cfg).use_llm(liar).fit(data)
    assert bad.weight_ == 0.0
    retriever = create_model("ease", {"l2": 20}).fit(data)
    users = np.arange(data.n_users)
    np.testing.assert_array_equal(bad.recommend(users, k=5).items,
                                  retriever.recommend(users, k=5).items)


def test_saved_model_holds_no_llm_weights_and_checks_identity(tmp_path) -> None:
    data = generate(n_users=30, n_items=25, density=0.2, n_topics=3, seed=2, explicit=False)
    lm = ScriptedLM({str(t): float(i % 3) for i, t in enumerate(data.items["title"])})
    model = create_model("llm_rerank", PARAMS).use_llm(lm).fit(data)
    path = model.save(tmp_path / "m")
    size = sum(f.stat().st_size for f in path.iterdir())
    assert size < 200_000  # retriever state + titles; a 135M model is ~0.5 GB
    loaded = Recommender.load(path)
    with pytest.raises(ModelError, match="fitted with language model 'scripted@1'"):
        loaded.score([0])
    loaded.use_llm(ScriptedLM(lm.table))
    np.testing.assert_array_equal(loaded.score(np.arange(30)), model.score(np.arange(30)))
    with pytest.raises(ModelError, match="fitted with language model"):
        loaded.use_llm(ScriptedLM(lm.table, model_id="other@2")).score([0])


def test_candidates_outranked_nothing_else() -> None:
    data = generate(n_users=30, n_items=25, density=0.2, n_topics=3, seed=3, explicit=False)
    lm = ScriptedLM({str(t): -float(i) for i, t in enumerate(data.items["title"])})
    model = create_model("llm_rerank", {**PARAMS, "weights": "1"}).use_llm(lm).fit(data)
    retriever = model.retriever_
    users = np.arange(data.n_users)
    top = retriever.recommend(users, k=PARAMS["candidates"]).items
    recs = model.recommend(users, k=PARAMS["candidates"]).items
    for row in range(len(users)):  # the same candidates, possibly in another order
        assert set(recs[row]) == set(top[row])


def test_helpers_and_bad_parameters() -> None:
    data = Dataset.from_frame(pd.DataFrame({
        "user_id": ["a", "a", "a", "b"], "item_id": ["x", "y", "z", "x"],
        "rating": [1.0, 1.0, 1.0, 1.0], "timestamp": [3, 1, 2, 5]}))
    recent = recent_items(data, 2)
    x, _, z = (int(data.item_index.lookup([i])[0]) for i in "xyz")
    assert recent.tolist() == [[z, x], [-1, x]]  # latest two, oldest first
    same = blend(np.array([[3.0, 2.0, 1.0]]), np.array([[1.0, 2.0, 3.0]]), 0.0)
    assert np.argsort(-same[0]).tolist() == [0, 1, 2]
    with pytest.raises(ConfigError, match="weights"):
        create_model("llm_rerank", {"weights": "0.5,2"})
    with pytest.raises(ConfigError, match="retriever"):
        create_model("llm_rerank", {"retriever": "llm_rerank"})


def test_llm_scores_of_the_bundled_model_survive_save_and_load(shared_lm, tmp_path) -> None:
    data = generate(n_users=12, n_items=30, density=0.2, n_topics=3, seed=4, explicit=False)
    params = {**PARAMS, "validation_users": 3}
    model = create_model("llm_rerank", params).use_llm(shared_lm).fit(data)
    model.weight_ = 0.5  # whatever validation chose, exercise the language-model path
    users = np.arange(4)
    before = model.score(users)
    reordered = model.recommend(users, k=5).items != model.retriever_.recommend(users, k=5).items
    assert reordered.any()  # the language model moved some candidates
    loaded = Recommender.load(model.save(tmp_path / "m"))  # opens the model from settings
    assert loaded.language_model().model_id == shared_lm.model_id
    np.testing.assert_array_equal(loaded.score(users), before)
