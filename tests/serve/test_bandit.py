"""LinUCB exploration with exact propensities, and IPS/SNIPS on hand-checkable logs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.serve.conftest import bearer
from trustrec.errors import DataError
from trustrec.serve.bandit import (
    LinUCB,
    deterministic_target,
    logged_rewards,
    off_policy_estimate,
)


def test_ips_and_snips_match_a_hand_computed_log() -> None:
    rewards = [1, 0, 1, 1]
    logging = [0.5, 0.5, 0.25, 1.0]
    target = [1.0, 1.0, 0.0, 0.5]
    est = off_policy_estimate(rewards, logging, target)
    # weights 2, 2, 0, 0.5 → IPS (2 + 0 + 0 + 0.5) / 4; SNIPS 2.5 / 4.5
    assert est.ips == pytest.approx(0.625)
    assert est.snips == pytest.approx(2.5 / 4.5)
    assert est.effective_sample_size == pytest.approx(4.5 ** 2 / 8.25)
    assert est.logged_mean_reward == pytest.approx(0.75)


def test_ips_is_unbiased_on_a_simulated_uniform_logger() -> None:
    rng = np.random.default_rng(0)
    n, arms = 200_000, 4
    click = np.array([0.1, 0.2, 0.3, 0.6])
    action = rng.integers(arms, size=n)
    reward = (rng.random(n) < click[action]).astype(float)
    est = off_policy_estimate(reward, np.full(n, 1 / arms), (action == 3).astype(float))
    assert est.ips == pytest.approx(0.6, abs=0.01) and est.snips == pytest.approx(0.6, abs=0.01)


def test_bad_propensities_are_refused() -> None:
    with pytest.raises(DataError, match="logging propensities"):
        off_policy_estimate([1.0], [0.0], [1.0])
    with pytest.raises(DataError, match="equal non-empty"):
        off_policy_estimate([1.0, 0.0], [0.5], [1.0])


def test_propensities_are_exact_for_epsilon_greedy_slots() -> None:
    x = np.eye(5)
    policy = LinUCB(dim=5, alpha=0.0, epsilon=0.2, seed=1)
    policy.update(x, np.array([5.0, 4.0, 3.0, 2.0, 1.0]))  # preference order 0 > 1 > … > 4
    chosen, propensity = policy.select(x, 3)
    best_remaining = [min(set(range(5)) - set(chosen[:s].tolist())) for s in range(3)]
    left = np.array([5, 4, 3])
    expected = 0.2 / left + 0.8 * (chosen == np.array(best_remaining))
    np.testing.assert_allclose(propensity, expected)
    # empirically: the greedy first slot appears with probability 0.8 + 0.2/5
    first = [LinUCB(5, 0.0, 0.2, seed=s) for s in range(400)]
    for p in first:
        p.update(x, np.array([5.0, 4.0, 3.0, 2.0, 1.0]))
    share = np.mean([p.select(x, 1)[0][0] == 0 for p in first])
    assert share == pytest.approx(0.84, abs=0.06)


def test_linucb_learns_the_rewarded_direction() -> None:
    rng = np.random.default_rng(3)
    policy = LinUCB(dim=3, alpha=0.1, epsilon=0.0, seed=0)
    for _ in range(200):
        x = rng.standard_normal((10, 3))
        rows, _ = policy.select(x, 1)
        policy.update(x[rows], x[rows, 0] > 0)  # reward: first coordinate positive
    x = np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])
    assert policy.ucb(x)[0] > policy.ucb(x)[1]


def test_logged_rewards_and_deterministic_target() -> None:
    served = pd.DataFrame({"request_id": ["r1"] * 3, "user_id": ["u1"] * 3,
                           "item_id": ["a", "b", "c"], "position": [0, 1, 2],
                           "propensity": [0.9, 0.5, 0.1], "served_at": [100.0] * 3})
    events = pd.DataFrame({"user_id": ["u1", "u1", "u1"], "item_id": ["b", "c", "a"],
                           "rating": [1.0] * 3, "timestamp": [150, 99_999, 120],
                           "type": ["click", "click", "dislike"]})
    log = logged_rewards(served, events, window_s=3600)
    assert log["reward"].tolist() == [0.0, 1.0, 0.0]  # c too late, a disliked
    target = deterministic_target(log, {"u1": ["x", "b", "c"]})
    assert target.tolist() == [0.0, 1.0, 1.0]
    est = off_policy_estimate(log["reward"], log["propensity"], target)
    assert est.ips == pytest.approx((1 / 0.5) / 3)


def test_service_logs_propensities_with_each_served_list(make_client, keys) -> None:
    client = make_client(key=keys["read"], bandit=True, bandit_candidates=10,
                         bandit_epsilon=0.3)
    body = client.get("/v1/recommendations/u2", params={"k": 4}).json()
    served = client.app.state.service.store.served_log()
    assert served["item_id"].tolist() == [row["item_id"] for row in body["items"]]
    assert served["propensity"].tolist() == pytest.approx([r["propensity"] for r in body["items"]])
    assert served["request_id"].unique().tolist() == [body["request_id"]]
    assert ((served["propensity"] > 0) & (served["propensity"] <= 1)).all()
    clicked = body["items"][0]["item_id"]
    event = {"events": [{"user_id": "u2", "item_id": clicked, "type": "click"}]}
    client.post("/v1/events", json=event, headers=bearer(keys["write"]))
    bandit = client.app.state.service.snapshot.bandit
    assert bandit.policy.b.any()  # the click reached the bandit as a reward
