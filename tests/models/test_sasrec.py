"""``sasrec``: contract, learning a planted next-item rule, sequence building, persistence."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from tests.models.contract import ModelContract
from tests.models.test_content import encoder, text_data
from trustrec.data import Dataset
from trustrec.errors import ConfigError
from trustrec.models import Recommender, create_model
from trustrec.models.sasrec import Histories, Sasrec, text_embeddings

#: Tiny and fast; enough to learn the planted structures below.
SMALL = {"dim": 16, "max_len": 8, "epochs": 12, "batch_size": 16, "learning_rate": 0.01,
         "dropout": 0.1}
N_ITEMS = 30


def chain_data(n_users: int = 80, length: int = 12, seed: int = 0) -> Dataset:
    """Users walk the item cycle ``i → i+1 (mod 30)`` from a random start; rows shuffled so
    that only the timestamps tell the order."""
    rng = np.random.default_rng(seed)
    start = rng.integers(0, N_ITEMS, n_users)
    items = (start[:, None] + np.arange(length)[None]) % N_ITEMS
    perm = rng.permutation(n_users * length)
    frame = pd.DataFrame({
        "user_id": np.repeat(np.arange(n_users), length)[perm],
        "item_id": np.char.add("i", items.ravel().astype(str))[perm],
        "timestamp": np.tile(np.arange(length), n_users)[perm],
    })
    return Dataset.from_frame(frame, value_col=None, name="chain")


@functools.cache
def chain_model() -> Sasrec:
    model = create_model("sasrec", SMALL, seed=0).fit(chain_data())
    assert isinstance(model, Sasrec)
    return model


class TestSasrec(ModelContract):
    model_name = "sasrec"
    params = SMALL

    def test_recommend_from_a_given_history(self, fitted: Recommender,
                                            planted: Dataset) -> None:
        """The contract's version passes the history in item-index order; the order is what
        sasrec reads, so here the history comes in time order and must give exactly the
        trained user's scores."""
        user = 4
        tokens = Histories.of(planted).latest(SMALL["max_len"])[user]
        history = tokens[tokens > 0] - 1
        np.testing.assert_allclose(fitted.score_history(history), fitted.score([user])[0],
                                   rtol=1e-5, atol=1e-5)
        items, top = fitted.recommend_history(history, k=5)
        np.testing.assert_array_equal(items, fitted.recommend([user], k=5).items[0])
        assert np.all(np.diff(top) <= 0)
        shuffled = fitted.score_history(history[::-1])
        assert not np.allclose(shuffled, fitted.score([user])[0])  # order matters


def test_learns_the_next_item_from_a_given_history() -> None:
    model = chain_model()
    index = model.item_index_
    rng = np.random.default_rng(1)
    hits = []
    for _ in range(60):
        start, length = int(rng.integers(0, N_ITEMS)), int(rng.integers(2, 8))
        history = index.lookup(np.char.add("i", ((start + np.arange(length)) % N_ITEMS)
                                           .astype(str)))
        top, _ = model.recommend_history(history, k=1)
        hits.append(index.to_external(top)[0] == f"i{(start + length) % N_ITEMS}")
    assert np.mean(hits) >= 0.8  # chance: 1/30


def test_recommend_uses_each_users_latest_items() -> None:
    data = chain_data()
    model = chain_model()
    last = Histories.of(data).latest(1)[:, 0] - 1

    def number(items: np.ndarray) -> np.ndarray:
        return np.char.lstrip(model.item_index_.to_external(items).astype(str), "i").astype(int)

    recs = model.recommend(np.arange(data.n_users), k=1)
    assert np.mean(number(recs.items[:, 0]) == (number(last) + 1) % N_ITEMS) >= 0.8


def test_histories_order_by_time_then_input_order() -> None:
    frame = pd.DataFrame({"user_id": ["a", "a", "a", "b", "b"],
                          "item_id": ["x", "y", "z", "x", "y"],
                          "timestamp": [5, 1, 5, 2, 1]})
    data = Dataset.from_frame(frame, value_col=None)
    hist = Histories.of(data)
    x, y, z = data.item_index.lookup(np.array(["x", "y", "z"]))
    # user a: y (t=1), then x and z tie at t=5 and keep input order
    np.testing.assert_array_equal(hist.latest(4), [[0, y + 1, x + 1, z + 1], [0, 0, y + 1, x + 1]])
    inputs, targets = hist.windows(2)
    np.testing.assert_array_equal(inputs, [[y + 1, x + 1], [0, y + 1]])
    np.testing.assert_array_equal(targets, [[x + 1, z + 1], [0, x + 1]])
    untimed = Histories.of(Dataset.from_frame(frame.drop(columns="timestamp"), value_col=None))
    np.testing.assert_array_equal(untimed.latest(3)[0], [x + 1, y + 1, z + 1])


def test_long_histories_are_cut_into_windows_using_every_item() -> None:
    data = chain_data(n_users=3, length=12)
    inputs, targets = Histories.of(data).windows(5)
    assert inputs.shape == (9, 5)  # 11 targets per user → windows of 5, 5 and 1
    assert (targets > 0).sum() == 3 * 11
    valid = targets > 0
    # every target is the successor of its input on the cycle (tokens are index + 1)
    names = data.item_index.to_external(np.r_[inputs[valid], targets[valid]] - 1).astype(str)
    numbers = np.char.lstrip(names, "i").astype(int).reshape(2, -1)
    np.testing.assert_array_equal((numbers[0] + 1) % N_ITEMS, numbers[1])


def test_save_load_keeps_history_scores_and_training_log(tmp_path) -> None:
    model = chain_model()
    model.save(tmp_path / "m")
    loaded = Recommender.load(tmp_path / "m")
    history = np.array([3, 4, 5])
    np.testing.assert_array_equal(loaded.score_history(history), model.score_history(history))
    assert loaded.training_["best_epoch"] == model.training_["best_epoch"] >= 1


def test_sampled_softmax_learns_the_chain_too() -> None:
    data = chain_data()
    model = create_model("sasrec", {**SMALL, "negatives": 8}).fit(data)
    last = Histories.of(data).latest(1)[:, 0] - 1
    names = model.item_index_.to_external(
        np.c_[last, model.recommend(np.arange(data.n_users), k=1).items[:, 0]]).astype(str)
    numbers = np.char.lstrip(names, "i").astype(int)
    assert np.mean((numbers[:, 0] + 1) % N_ITEMS == numbers[:, 1]) >= 0.6


def test_bce_loss_and_time_budget() -> None:
    model = create_model("sasrec", {**SMALL, "loss": "bce", "epochs": 1000,
                                    "max_seconds": 1.5, "validation": 0}).fit(chain_data())
    assert model.training_["stopped"] == "max_seconds"
    assert np.isfinite(model.score([0])).all()


def test_text_init_starts_from_text_vectors() -> None:
    data = text_data()
    model = create_model("sasrec", {**SMALL, "epochs": 1, "text_init": True})
    assert isinstance(model, Sasrec)
    model.use_encoder(encoder()).fit(data)
    plain = create_model("sasrec", {**SMALL, "epochs": 1}).fit(data)
    assert not np.allclose(model.net_.item.weight.detach().numpy(),
                           plain.net_.item.weight.detach().numpy())


def test_text_embeddings_keep_text_similarity() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(20, 12)).astype(np.float32)
    vectors[5] = vectors[4]
    vectors[7] = 0.0  # no text
    emb = text_embeddings(vectors, 8, np.random.default_rng(0))
    assert emb.shape == (20, 8)
    np.testing.assert_allclose(emb[4], emb[5])
    assert not np.allclose(emb[6], emb[5])
    assert np.isfinite(emb).all()


def test_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="heads"):
        create_model("sasrec", {"dim": 10, "heads": 3})
    with pytest.raises(ConfigError, match="max_len"):
        create_model("sasrec", {"max_len": 0})
