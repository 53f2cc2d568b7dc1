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

**Differential privacy** (``dp_epsilon`` > 0): DP-SGD through Opacus
(``PrivacyEngine.make_private_with_epsilon``, RDP accountant): per-example gradients
clipped to ``dp_max_grad_norm``, Gaussian noise calibrated so that the whole run of
``epochs`` epochs with Poisson-sampled batches is (``dp_epsilon``, ``dp_delta``)-DP. The
guarantee is *example-level over the training rows* (one (user, item, label) row, with
negatives drawn once before training), **not** user-level: a user with many interactions
is protected less than the ε suggests. With DP there is no validation split and no early
stopping (choosing an epoch on held-out private data is not covered by the accounting); a
time budget may stop training early, which only spends less ε. After fitting,
``model.privacy_`` holds the mechanism, the ε actually spent, δ, noise multiplier, clipping
norm and accountant; ``save`` writes it into the manifest (``extra.privacy``).
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from trustrec.data.dataset import Dataset
from trustrec.data.split import validation_split
from trustrec.errors import ConfigError
from trustrec.models.base import Recommender
from trustrec.models.config import require
from trustrec.models.registry import register
from trustrec.models.torch_training import (
    Batch,
    TorchConfig,
    TrainingLog,
    choose_device,
    load_weights,
    ndcg_at_k,
    shuffled_batches,
    torch_threads,
    train,
    training_session,
    weights_to_arrays,
)

#: Pairs scored per forward pass at inference.
PAIR_BATCH = 1 << 17


@dataclass(frozen=True)
class NcfConfig(TorchConfig):
    """``task``: 'implicit' (BCE with sampled negatives) or 'rating' (MSE); ``factors``: GMF
    embedding size; ``layers``: list of MLP widths, ``64,32,16`` (the first is the concatenated
    user+item MLP embedding, so each is half of it); ``negatives`` per positive (implicit);
    ``dp_epsilon`` (0: no DP), ``dp_delta``, ``dp_max_grad_norm``: DP-SGD (see the module
    docstring). Training settings: see :class:`TorchConfig`."""

    model: ClassVar[str] = "ncf"

    task: Literal["implicit", "rating"] = "implicit"
    factors: int = 32
    layers: tuple[int, ...] = (64, 32, 16)
    negatives: int = 4
    dp_epsilon: float = 0.0
    dp_delta: float = 1e-5
    dp_max_grad_norm: float = 1.0

    def check(self) -> None:
        """Validate ranges (``ConfigError`` naming the parameter)."""
        super().check()
        require(self.factors >= 1, "ncf", "factors", "≥ 1", self.factors)
        widths = self.widths()
        require(len(widths) >= 1 and all(w >= 1 for w in widths) and widths[0] % 2 == 0,
                "ncf", "layers", "comma-separated positive widths, the first even",
                self.layers)
        require(self.negatives >= 1, "ncf", "negatives", "≥ 1", self.negatives)
        require(math.isfinite(self.dp_epsilon) and self.dp_epsilon >= 0, "ncf", "dp_epsilon",
                "a finite number ≥ 0 (0: no differential privacy)", self.dp_epsilon)
        require(0 < self.dp_delta < 1, "ncf", "dp_delta", "in (0, 1)", self.dp_delta)
        require(math.isfinite(self.dp_max_grad_norm) and self.dp_max_grad_norm > 0, "ncf",
                "dp_max_grad_norm", "a finite number > 0", self.dp_max_grad_norm)

    def widths(self) -> list[int]:
        """``layers`` as a list of integers (empty unless it is a tuple of integers;
        ``check`` reports it)."""
        valid = isinstance(self.layers, tuple) and all(
            isinstance(w, int) and not isinstance(w, bool) for w in self.layers)
        return list(self.layers) if valid else []


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
        """One output (logit or centred rating) per pair: shape (len(users),)."""
        gmf = self.user_gmf(users) * self.item_gmf(items)
        mlp = self.mlp(torch.cat([self.user_mlp(users), self.item_mlp(items)], dim=1))
        return self.out(torch.cat([gmf, mlp], dim=1)).squeeze(1)


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
                result = self._train_private(inner, optimizer, rng)
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

    def _train_private(self, data: Dataset, optimizer: torch.optim.Optimizer,
                       rng: np.random.Generator) -> TrainingLog:
        """DP-SGD with Opacus over a fixed set of rows (negatives drawn once)."""
        try:
            from opacus import PrivacyEngine
        except ImportError as exc:  # pragma: no cover - opacus is a core dependency
            raise ConfigError("dp_epsilon > 0 needs the package opacus") from exc
        cfg = self.config
        users, items, labels = self._with_negatives(self._rows(data), data, rng)
        tensors = torch.utils.data.TensorDataset(
            torch.from_numpy(users.astype(np.int64)), torch.from_numpy(items.astype(np.int64)),
            torch.from_numpy(labels))
        loader = torch.utils.data.DataLoader(
            tensors, batch_size=cfg.batch_size, shuffle=True,
            generator=torch.Generator().manual_seed(cfg.seed))
        with warnings.catch_warnings():
            # seeded (reproducible) noise is the point here; embeddings take no input grads
            warnings.filterwarnings("ignore", message="Secure RNG turned off")
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            engine = PrivacyEngine(accountant="rdp")
            module, dp_optimizer, dp_loader = engine.make_private_with_epsilon(
                module=self.net_, optimizer=optimizer, data_loader=loader,
                target_epsilon=cfg.dp_epsilon, target_delta=cfg.dp_delta, epochs=cfg.epochs,
                max_grad_norm=cfg.dp_max_grad_norm,
                noise_generator=torch.Generator(device=self.device_).manual_seed(cfg.seed))

            def epoch(_epoch: int) -> Any:
                return (tuple(t.to(self.device_) for t in batch) for batch in dp_loader)

            try:
                result = train(module, dp_optimizer, epoch, self._loss_of(module), cfg,
                               label="ncf (DP-SGD)")
            finally:
                module.to_standard_module()
        self.privacy_ = {
            "mechanism": "DP-SGD (Opacus)",
            "unit": "training row (user, item, label); not user-level",
            "epsilon": float(engine.get_epsilon(cfg.dp_delta)),
            "target_epsilon": cfg.dp_epsilon,
            "delta": cfg.dp_delta,
            "noise_multiplier": float(dp_optimizer.noise_multiplier),
            "max_grad_norm": cfg.dp_max_grad_norm,
            "accountant": engine.accountant.mechanism(),
            "epochs": result.epochs,
            "sample_rate": float(dp_loader.sample_rate),
        }
        return result

    # ------------------------------------------------------------------ inference
    def _forward_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Network outputs for pairs (in batches of :data:`PAIR_BATCH`), ratings re-centred."""
        out = np.empty(len(users), dtype=np.float32)
        offset = self.train_mean_ if self.config.task == "rating" else 0.0
        with torch.no_grad(), torch_threads(self.config.threads):
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
