"""Federated MF with Flower: what the server sees, and the quality it reaches."""

from __future__ import annotations

import numpy as np
import pytest

from trustrec.data import Dataset
from trustrec.errors import ConfigError
from trustrec.models import Recommender, create_model
from trustrec.privacy.federated import FederatedConfig, train_federated

pytest.importorskip("flwr")


@pytest.fixture(scope="module")
def trained():
    from tests.conftest import planted_frame

    data = Dataset.from_frame(planted_frame())
    cfg = FederatedConfig(factors=4, rounds=8, clients=6, regularization=1.0)
    return data, cfg, train_federated(data, cfg)


def test_server_receives_only_item_factor_updates(trained) -> None:
    from flwr.common import parameters_to_ndarrays

    data, cfg, result = trained
    assert len(result.messages) == cfg.rounds * cfg.clients
    interactions = data.csr.toarray()
    for message in result.messages:
        arrays = parameters_to_ndarrays(message["parameters"])
        assert len(arrays) == 1
        assert arrays[0].shape == (data.n_items, cfg.factors)
        assert arrays[0].dtype == np.float32
        assert set(message) == {"round", "client", "num_examples", "metrics", "parameters"}
        assert message["metrics"] == {}
        assert arrays[0].shape != interactions.shape
    assert sum(m["num_examples"] for m in result.messages[:cfg.clients]) == data.n_users
    assert all(r["bytes_up"] > 0 and r["bytes_down"] > 0 for r in result.rounds)


def test_federated_model_is_a_standard_model_that_beats_popularity(trained, tmp_path) -> None:
    data, _, result = trained
    model = result.model
    users = np.arange(data.n_users)
    block = data.n_items // 4

    def in_group(recs: np.ndarray) -> float:
        nums = np.vectorize(lambda s: int(s[1:]))(data.item_index.to_external(recs))
        return float(np.mean(nums // block == (users % 4)[:, None]))

    popular = create_model("popularity").fit(data).recommend(users, 3).items
    assert in_group(model.recommend(users, 3).items) > in_group(popular) + 0.2
    loaded = Recommender.load(model.save(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.score(users), model.score(users))


def test_clipping_and_noise(trained) -> None:
    data = trained[0]
    noisy = train_federated(data, FederatedConfig(factors=4, rounds=2, clients=3, clip=0.1,
                                                  noise_multiplier=1.0))
    assert all(m["num_examples"] == 1 for m in noisy.messages)
    with pytest.raises(ConfigError, match="needs clip"):
        FederatedConfig(noise_multiplier=1.0)


def test_server_noise_is_not_replayable(trained) -> None:
    """Same data, same seed: the noisy factors differ (OS CSPRNG), the noiseless agree."""
    data = trained[0]
    noisy, plain = (FederatedConfig(factors=4, rounds=2, clients=3, clip=0.1,
                                    noise_multiplier=m) for m in (1.0, 0.0))
    first, second = (train_federated(data, noisy).model.item_factors_ for _ in range(2))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(train_federated(data, plain).model.item_factors_,
                                  train_federated(data, plain).model.item_factors_)
