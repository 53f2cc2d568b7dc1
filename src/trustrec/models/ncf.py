"""``ncf``: Neural Collaborative Filtering — NeuMF (He et al. 2017), GMF and MLP towers.

For each (user, item) pair the network looks up two embeddings per side: the GMF tower
multiplies one pair element-wise, the MLP tower runs the concatenation of the other pair
through ReLU layers (``layers``: widths, the first being the concatenated input), and a
final linear layer reads both towers. Every score — ``score``, ``recommend`` and
``predict`` — is that forward pass over (user, item) pairs, in batches.

``task=implicit`` (default): every distinct training pair is a positive, with
``negatives`` items per positive drawn uniformly among the items the user has not
interacted with (vectorised, redrawn each epoch); loss: binary cross-entropy; scores are
logits. ``task=rating``: regression of the ratings (mean squared error around the training
mean); ``predict`` then estimates ratings and ``predicts_ratings`` is true.

Early stopping watches NDCG@10 (implicit; full ranking) or −RMSE (rating) on a per-user
random ``validation`` share of the training data (:func:`trustrec.data.split.validation_split`).

**Differential privacy** (``dp_epsilon`` > 0, ``task=implicit``): DP-SGD with Opacus'
per-sample clipping (``dp_max_grad_norm``) and RDP accountant, noise and Poisson batches
from the OS CSPRNG (:mod:`trustrec.models.dp_sgd`); the noise is calibrated so that
``epochs`` epochs spend (``dp_epsilon``, ``dp_delta``). **The unit is one interaction**:
each training example is one (user, item) pair together with its ``negatives`` negative
items, drawn by a keyed hash of (seed, user, item) among all other items (so an example
depends on its own interaction alone; a negative may be another item the user has), and
its whole gradient is clipped at once. Neighbouring datasets differ by one interaction of
a user on the public roster. A user with c interactions is protected only at
(c·ε, c·e^{(c−1)ε}·δ) by group privacy: not comparable with the user-level ε of
``dp_ease`` and ``dp_popularity``. The item catalogue must be public
(:mod:`trustrec.models.dp_input`); the user roster (IDs, embeddings rows) and the stored
training histories (used to mask seen items) are outside the guarantee, as the manifest
says. No validation split and no early stopping (choosing an epoch on held-out private
data is not covered); a time budget may stop training early, which only spends less ε.
After fitting, ``model.privacy_`` states the mechanism, unit, group bound, ε spent, δ,
noise multiplier and what the artifact releases; ``save`` writes it into the manifest
(``extra.privacy``).
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from trustrec.data.dataset import Dataset
from trustrec.data.split import validation_split
from trustrec.models.base import Recommender
from trustrec.models.dp_input import keyed_draws, record_keys, require_public_catalogue
from trustrec.models.dp_release import statement
from trustrec.models.registry import register
from trustrec.models.torch_config import NcfConfig
from trustrec.models.torch_training import (
    Batch,
    TrainingLog,
    choose_device,
    load_weights,
    ndcg_at_k,
    shuffled_batches,
    train,
    training_session,
    use_threads,
    weights_to_arrays,
)

#: Pairs scored per forward pass at inference.
PAIR_BATCH = 1 << 17


class NeuMF(nn.Module):
    """GMF and MLP towers over (user, item) pairs, joined by one linear output layer."""

    def __init__(self, n_users: int, n_items: int, factors: int, widths: list[int]) -> None:
        super().__init__()
        half = widths[0] // 2
        self.user_gmf = nn.Embedding(n_users, factors)
        self.item_gmf = nn.Embedding(n_items, factors)
        self.user_mlp = nn.Embedding(n_users, half)
        self.item_mlp = nn.Embedding(n_items, half)
        layers: list[nn.Module] = []
        for fan_in, fan_out in itertools.pairwise(widths):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        self.mlp = nn.Sequential(*layers)
        self.out = nn.Linear(factors + widths[-1], 1)
        for emb in (self.user_gmf, self.item_gmf, self.user_mlp, self.item_mlp):
            nn.init.normal_(emb.weight, std=0.01)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """One output (logit or centred rating) per pair: the shape of ``users`` (and of
        ``items``), e.g. (n,) pairs or (n, 1 + negatives) examples."""
        gmf = self.user_gmf(users) * self.item_gmf(items)
        mlp = self.mlp(torch.cat([self.user_mlp(users), self.item_mlp(items)], dim=-1))
        return self.out(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)


def pair_keys(matrix: sp.csr_matrix) -> np.ndarray:
    """Sorted int64 keys ``user · n_items + item`` of the stored entries of a sorted CSR."""
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    return rows * matrix.shape[1] + matrix.indices


def sample_negatives(users: np.ndarray, seen: sp.csr_matrix, per_user: int,
                     rng: np.random.Generator, max_rounds: int = 50) -> np.ndarray:
    """``per_user`` uniform items for each entry of ``users`` (shape (len(users), per_user)),
    redrawn (vectorised) where the user has the item in ``seen``. After ``max_rounds`` a
    few draws may remain seen (only for users who have seen nearly every item)."""
    n_items = seen.shape[1]
    keys = pair_keys(seen)
    owner = np.repeat(users.astype(np.int64), per_user)
    neg = rng.integers(0, n_items, size=len(owner))
    bad = np.arange(len(owner))
    for _ in range(max_rounds):
        query = owner[bad] * n_items + neg[bad]
        pos = np.minimum(np.searchsorted(keys, query), max(len(keys) - 1, 0))
        bad = bad[keys[pos] == query] if len(keys) else bad[:0]
        if len(bad) == 0:
            break
        neg[bad] = rng.integers(0, n_items, size=len(bad))
    return neg.reshape(len(users), per_user)


def interaction_examples(data: Dataset, negatives: int, seed: int
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DP-SGD's examples: one per distinct interaction, as users, items and labels of shape
    (n, 1 + negatives), the positive first, then ``negatives`` items drawn by a keyed hash of
    (``seed``, user ID, item ID) among the other items, so that an example depends on its own
    interaction alone (see the module docstring)."""
    m = data.csr
    users = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    items = m.indices.astype(np.int64)
    keys = record_keys(seed, data.user_index.ids[users], data.item_index.ids[items])
    neg = keyed_draws(keys, negatives, data.n_items - 1)
    neg += neg >= items[:, None]  # skip the positive itself
    labels = np.zeros((len(users), 1 + negatives), np.float32)
    labels[:, 0] = 1.0
    return (np.repeat(users[:, None], 1 + negatives, axis=1),
            np.concatenate([items[:, None], neg], axis=1), labels)


@register
class Ncf(Recommender):
    """NeuMF for implicit feedback (sampled negatives) or ratings; optional DP-SGD."""

    name = "ncf"
    config_class = NcfConfig

    # ------------------------------------------------------------------ fitting
    def _fit(self, dataset: Dataset) -> None:
        cfg = self.config
        self.predicts_ratings = cfg.task == "rating"
        self.device_ = choose_device(cfg.device)
        self.privacy_: dict[str, Any] | None = None
        dp = cfg.dp_epsilon > 0
        if dp:
            require_public_catalogue(dataset, self.name)
        if dp or cfg.validation == 0:
            inner, held = dataset, None
        else:
            split = validation_split(dataset, fraction=cfg.validation, seed=cfg.seed)
            inner, held = split.train, split.test
        rng = np.random.default_rng(cfg.seed)
        with training_session(cfg.seed, cfg.threads, self.device_):
            self.net_ = NeuMF(self.n_users_, self.n_items_, cfg.factors, cfg.widths())
            self.net_.to(self.device_)
            optimizer = torch.optim.Adam(self.net_.parameters(), lr=cfg.learning_rate,
                                         weight_decay=cfg.weight_decay)
            validate = None if held is None or len(held) == 0 else self._validator(inner, held)
            if dp:
                result = self._train_private(inner, optimizer)
            else:
                rows = self._rows(inner)
                result = train(self.net_, optimizer, lambda _epoch: self._epoch(rows, inner, rng),
                               self._loss_of(self.net_), cfg, validate, label="ncf")
        self.training_: dict[str, Any] = result.to_dict()

    def _rows(self, data: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Training rows: distinct positive pairs (implicit) or all ratings centred (rating)."""
        if self.config.task == "rating":
            return data.user, data.item, (data.value - self.train_mean_).astype(np.float32)
        m = data.csr
        users = np.repeat(np.arange(m.shape[0], dtype=np.int32), np.diff(m.indptr))
        return users, m.indices.astype(np.int32), np.ones(len(users), np.float32)

    def _with_negatives(self, rows: tuple[np.ndarray, np.ndarray, np.ndarray], data: Dataset,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows plus ``negatives`` sampled unseen items per positive (label 0); implicit only."""
        users, items, labels = rows
        if self.config.task == "rating":
            return rows
        k = self.config.negatives
        neg = sample_negatives(users, data.csr, k, rng).ravel().astype(np.int32)
        return (np.concatenate([users, np.repeat(users, k)]), np.concatenate([items, neg]),
                np.concatenate([labels, np.zeros(len(neg), np.float32)]))

    def _epoch(self, rows: tuple[np.ndarray, np.ndarray, np.ndarray], data: Dataset,
               rng: np.random.Generator) -> list[Batch]:
        """One epoch's shuffled mini-batches (fresh negatives) as device tensors."""
        users, items, labels = self._with_negatives(rows, data, rng)
        tensors = [torch.from_numpy(a).to(self.device_) for a in (users.astype(np.int64),
                                                                   items.astype(np.int64),
                                                                   labels)]
        return [tuple(t[torch.from_numpy(b).to(self.device_)] for t in tensors)
                for b in shuffled_batches(len(users), self.config.batch_size, rng)]

    def _loss_of(self, net: nn.Module) -> Any:
        """The batch loss for ``net``: BCE on logits (implicit) or MSE (rating)."""
        loss = nn.BCEWithLogitsLoss() if self.config.task == "implicit" else nn.MSELoss()

        def loss_of(batch: Batch) -> torch.Tensor:
            users, items, labels = batch
            return loss(net(users, items), labels)

        return loss_of

    def _validator(self, inner: Dataset, held: Dataset) -> Any:
        """Validation score (higher is better) on ``held``: NDCG@10 or −RMSE."""
        if self.config.task == "rating":
            users = torch.from_numpy(held.user.astype(np.int64)).to(self.device_)
            items = torch.from_numpy(held.item.astype(np.int64)).to(self.device_)
            truth = torch.from_numpy(held.value - self.train_mean_).to(self.device_)
            return lambda: -float(torch.sqrt(torch.mean((self.net_(users, items) - truth) ** 2)))
        relevant = held.csr
        rng = np.random.default_rng(self.config.seed)
        rows = np.flatnonzero(np.diff(relevant.indptr))
        rows = np.sort(rng.choice(rows, size=min(len(rows), 1000), replace=False))
        seen = inner.csr

        def validate() -> float:
            total = 0.0
            step = max(1, PAIR_BATCH // self.n_items_)
            for start in range(0, len(rows), step):
                batch = rows[start:start + step]
                total += ndcg_at_k(self._forward_all(batch), batch, seen, relevant)
            return total / len(rows)

        return validate

    def _train_private(self, data: Dataset, optimizer: torch.optim.Optimizer) -> TrainingLog:
        """DP-SGD over one example per interaction (see the module docstring)."""
        from trustrec.models.dp_sgd import DpSgd

        cfg = self.config
        users, items, labels = interaction_examples(data, cfg.negatives, cfg.seed)
        examples = tuple(torch.from_numpy(a).to(self.device_) for a in (users, items, labels))
        sgd = DpSgd.prepare(self.net_, optimizer, examples, epsilon=cfg.dp_epsilon,
                            delta=cfg.dp_delta, max_grad_norm=cfg.dp_max_grad_norm,
                            batch_size=cfg.batch_size, epochs=cfg.epochs)
        try:
            with warnings.catch_warnings():  # embeddings take no input gradients
                warnings.filterwarnings("ignore", message="Full backward hook is firing")
                result = train(sgd.module, sgd.optimizer, sgd.batches,
                               self._loss_of(sgd.module), cfg, label="ncf (DP-SGD)")
        finally:
            sgd.module.to_standard_module()
        self.privacy_ = self._privacy_statement(sgd.facts(cfg.dp_delta), result.epochs)
        return result

    def _privacy_statement(self, facts: dict[str, Any], epochs: int) -> dict[str, Any]:
        """What a DP-SGD artifact releases, under which guarantee and unit."""
        cfg = self.config
        return statement(
            mechanism="DP-SGD (Opacus per-example clipping, RDP accountant; CSPRNG noise "
                      "and Poisson sampling)",
            epsilon=facts.pop("epsilon"), delta=cfg.dp_delta,
            unit="interaction (one user-item pair with its negatives); not user-level",
            neighbouring="datasets that differ by adding or removing one interaction of a "
                         "user on the public roster; the item catalogue and the roster of "
                         "user IDs are public and the same in both",
            budget="all of (ε, δ) to the DP-SGD steps",
            released={"state.net.*": "network weights, user and item embeddings "
                                     "included: DP-SGD output",
                      "index.item_ids": "the public item catalogue",
                      "config": "the hyper-parameters (public; see docs/privacy.md)"},
            not_released="nothing else is covered: see outside_guarantee",
            outside_guarantee={
                "index.user_ids, n_users": "the roster of training users (assumed public)",
                "seen.*": "each training user's own items, kept to mask them when serving: "
                          "raw training data; share state.net.* and index.* only",
                "dataset_fingerprint, train_mean": "raw statistics of the training data"},
            group_bound="a user with c interactions: (c·ε, c·e^((c−1)·ε)·δ)-DP by group "
                        "privacy",
            target_epsilon=cfg.dp_epsilon, max_grad_norm=cfg.dp_max_grad_norm, epochs=epochs,
            **facts)

    # ------------------------------------------------------------------ inference
    def _forward_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Network outputs for pairs (in batches of :data:`PAIR_BATCH`), ratings re-centred."""
        out = np.empty(len(users), dtype=np.float32)
        offset = self.train_mean_ if self.config.task == "rating" else 0.0
        with torch.no_grad():
            for start in range(0, len(users), PAIR_BATCH):
                u = torch.from_numpy(users[start:start + PAIR_BATCH].astype(np.int64))
                i = torch.from_numpy(items[start:start + PAIR_BATCH].astype(np.int64))
                res = self.net_(u.to(self.device_), i.to(self.device_))
                out[start:start + PAIR_BATCH] = res.cpu().numpy() + offset
        return out

    def _forward_all(self, users: np.ndarray) -> np.ndarray:
        """Outputs for every (user, item) of ``users`` × all items: (len(users), n_items)."""
        n = self.n_items_
        pairs_u = np.repeat(users.astype(np.int64), n)
        pairs_i = np.tile(np.arange(n, dtype=np.int64), len(users))
        return self._forward_pairs(pairs_u, pairs_i).reshape(len(users), n)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self._forward_all(users)

    def _predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self._forward_pairs(users, items)

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, np.ndarray]:
        return weights_to_arrays(self.net_)

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        cfg = self.config
        self.predicts_ratings = cfg.task == "rating"
        self.device_ = choose_device(cfg.device)
        use_threads(cfg.threads)
        self.net_ = NeuMF(self.n_users_, self.n_items_, cfg.factors, cfg.widths())
        load_weights(self.net_, arrays)
        self.net_.to(self.device_)

    def _manifest_extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"training": self.training_}
        if self.privacy_:
            extra["privacy"] = self.privacy_
        return extra

    def _load_manifest_extra(self, extra: dict[str, Any]) -> None:
        self.training_ = extra.get("training", {})
        self.privacy_ = extra.get("privacy")
