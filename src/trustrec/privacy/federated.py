"""Federated matrix factorisation with Flower: interactions and user vectors never leave
their client; the server only sees and averages item-factor updates (FedAvg).

Each client holds a shard of users (one user per client is the cross-device extreme) with
their binary interactions and their user vectors. A round:

1. the server sends the item factors Q (n_items × k) to every client;
2. each client solves its users' vectors exactly (the ALS user step of implicit MF with
   confidence ``1 + alpha·x``), takes ``local_steps`` preconditioned gradient steps on Q
   for its users' mean loss, and returns only the update ``ΔQ`` (optionally clipped to
   Frobenius norm ``clip``);
3. the server averages the updates with Flower's ``FedAvg`` (weighted by users, uniform
   when clipping), adds Gaussian noise ``N(0, (noise_multiplier·clip/n_clients)²)`` when
   asked (DP-FedAvg of McMahan et al. 2018), and applies them. The noise comes from the OS
   CSPRNG (:mod:`trustrec.models.dp_noise`), never from ``seed``, which only drives the
   shards and the initial factors: a seeded noise could be replayed and subtracted.

Clients are Flower ``NumPyClient``s and aggregation is Flower's ``FedAvg.aggregate_fit``,
driven in-process by :func:`train_federated` rather than by Flower's Ray-based
``run_simulation``: one Python process with no actor pool is what 2 CPU cores and CI
afford, and the messages are the same ``FitRes`` objects. Every message is kept in
:attr:`FederatedResult.messages` so tests can check what the server received.

The result is exported as a standard ``als`` model (same scoring ``x_u·y_i``, fold-in,
save/load, evaluate, forget), with the client-side user vectors collected for evaluation
only — a deployment would keep them on the devices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from trustrec.data.dataset import Dataset
from trustrec.data.sparse import binarized
from trustrec.errors import ConfigError, ModelError
from trustrec.models.als import Als, AlsConfig
from trustrec.models.dp_noise import secure_normal


@dataclass(frozen=True)
class FederatedConfig:
    """Hyper-parameters: ``factors``, ``alpha`` (confidence), ``regularization`` (user and
    item L2, in ALS's sum-over-users scale), ``rounds``, ``clients`` (user shards),
    ``local_steps`` and ``learning_rate`` of the client update, ``clip`` (0: no clipping) and
    ``noise_multiplier`` (0: no noise; CSPRNG, never seeded) of the server's DP-FedAvg,
    ``seed`` (shards and initial factors only)."""

    factors: int = 32
    alpha: float = 2.0
    regularization: float = 10.0
    rounds: int = 30
    clients: int = 10
    local_steps: int = 2
    learning_rate: float = 0.5
    clip: float = 0.0
    noise_multiplier: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {"factors": self.factors >= 1, "rounds": self.rounds >= 1,
                  "clients": self.clients >= 1, "local_steps": self.local_steps >= 1,
                  "alpha": self.alpha >= 0, "regularization": self.regularization > 0,
                  "learning_rate": self.learning_rate > 0, "clip": self.clip >= 0,
                  "noise_multiplier": self.noise_multiplier >= 0,
                  "seed": self.seed >= 0}
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(f"federated: invalid {', '.join(bad)} in {self}")
        if self.noise_multiplier > 0 and self.clip == 0:
            raise ConfigError("federated: noise_multiplier > 0 needs clip > 0 (noise is "
                              "scaled to the clipping bound)")


@dataclass
class FederatedResult:
    """The exported model, per-round bookkeeping and every client → server message."""

    model: Als
    rounds: list[dict[str, float]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)


def solve_users(x: sp.csr_matrix, q: np.ndarray, alpha: float, reg: float) -> np.ndarray:
    """Exact implicit-ALS user vectors for the binary rows ``x`` given item factors ``q``:
    ``(QᵀQ + α Σ_{i∈u} q_i q_iᵀ + reg·I) p_u = (1 + α) Σ_{i∈u} q_i``, batched."""
    k = q.shape[1]
    outer = (q[:, :, None] * q[:, None, :]).reshape(q.shape[0], k * k)
    lhs = (x @ outer).reshape(-1, k, k) * alpha + q.T @ q + reg * np.eye(k)
    rhs = (1.0 + alpha) * np.asarray(x @ q)
    return np.linalg.solve(lhs, rhs[..., None])[..., 0]


def item_gradient(x: sp.csr_matrix, p: np.ndarray, q: np.ndarray, alpha: float,
                  reg: float) -> np.ndarray:
    """Gradient in Q of ``mean_u Σ_i (1 + α x_ui)(x_ui − p_u·q_i)² + reg‖Q‖²``."""
    pred = p @ q.T
    dense = (x.toarray() - pred).T @ p
    coo = x.tocoo()
    residual = alpha * (1.0 - pred[coo.row, coo.col])
    sparse = sp.csr_matrix((residual, (coo.col, coo.row)), shape=(q.shape[0], x.shape[0])) @ p
    return -2.0 * (dense + sparse) / x.shape[0] + 2.0 * reg * q


def _client_class() -> type:
    from flwr.client import NumPyClient

    class MfClient(NumPyClient):
        """A Flower client with its users' interactions and vectors, which it never sends."""

        def __init__(self, rows: sp.csr_matrix, cfg: FederatedConfig, item_reg: float):
            self.rows, self.cfg, self.item_reg = rows, cfg, item_reg
            self.user_vectors = np.zeros((rows.shape[0], cfg.factors))

        def fit(self, parameters: list[np.ndarray], config: dict[str, Any]
                ) -> tuple[list[np.ndarray], int, dict[str, Any]]:
            cfg, q0 = self.cfg, parameters[0].astype(np.float64)
            q = q0.copy()
            for _ in range(cfg.local_steps):
                self.user_vectors = solve_users(self.rows, q, cfg.alpha, cfg.regularization)
                p = self.user_vectors
                grad = item_gradient(self.rows, p, q, cfg.alpha, self.item_reg)
                precond = 2.0 * (p.T @ p) / len(p) + 2.0 * self.item_reg * np.eye(len(p.T))
                q -= cfg.learning_rate * np.linalg.solve(precond, grad.T).T
            update = q - q0
            if cfg.clip > 0:
                update *= min(1.0, cfg.clip / max(float(np.linalg.norm(update)), 1e-12))
            weight = 1 if cfg.clip > 0 else self.rows.shape[0]
            return [update.astype(np.float32)], weight, {}

    return MfClient


def _import_flower() -> Any:
    try:
        from flwr.common import Code, FitRes, Status, ndarrays_to_parameters
        from flwr.server.strategy import FedAvg
    except ImportError:
        raise ModelError("federated training needs Flower: pip install 'trustrec[federated]'") \
            from None
    return Code, FitRes, Status, ndarrays_to_parameters, FedAvg


def train_federated(dataset: Dataset, config: FederatedConfig | None = None) -> FederatedResult:
    """Federated implicit MF on ``dataset`` (one Flower client per user shard); see module."""
    code, fit_res, status, to_parameters, fed_avg = _import_flower()
    from flwr.common import parameters_to_ndarrays

    cfg = config or FederatedConfig()
    rng = np.random.default_rng(cfg.seed)
    x = binarized(dataset.csr)
    shards = np.array_split(rng.permutation(dataset.n_users), min(cfg.clients, dataset.n_users))
    item_reg = cfg.regularization / dataset.n_users
    client_cls = _client_class()
    clients = [client_cls(x[s], cfg, item_reg) for s in shards]
    strategy = fed_avg(min_fit_clients=1, min_evaluate_clients=1, min_available_clients=1,
                       fit_metrics_aggregation_fn=lambda metrics: {})
    q = rng.normal(0.0, 0.01, size=(dataset.n_items, cfg.factors)).astype(np.float32)
    result = FederatedResult(model=Als(AlsConfig(
        factors=cfg.factors, regularization=cfg.regularization, alpha=cfg.alpha,
        iterations=cfg.rounds, seed=cfg.seed)))
    for rnd in range(1, cfg.rounds + 1):
        replies = []
        for cid, client in enumerate(clients):
            arrays, n, metrics = client.fit([q.copy()], {"round": rnd})
            reply = fit_res(status=status(code=code.OK, message=""),
                            parameters=to_parameters(arrays), num_examples=n, metrics=metrics)
            result.messages.append({"round": rnd, "client": cid, "num_examples": n,
                                    "metrics": dict(metrics), "parameters": reply.parameters})
            replies.append((None, reply))
        aggregated, _ = strategy.aggregate_fit(rnd, replies, [])
        update = parameters_to_ndarrays(aggregated)[0]
        if cfg.noise_multiplier > 0:
            std = cfg.noise_multiplier * cfg.clip / len(clients)
            noise = secure_normal(update.size, std).reshape(update.shape)
            update = update + noise.astype(np.float32)
        q = q + update
        result.rounds.append({"round": rnd, "bytes_down": q.nbytes * len(clients),
                              "bytes_up": sum(len(t) for _, r in replies
                                              for t in r.parameters.tensors)})
    if not np.isfinite(q).all():
        raise ModelError("federated: item factors diverged; lower learning_rate")
    users = np.zeros((dataset.n_users, cfg.factors), dtype=np.float32)
    for shard, client in zip(shards, clients, strict=True):
        users[shard] = solve_users(client.rows, q.astype(np.float64), cfg.alpha,
                                   cfg.regularization)
    _attach(result.model, dataset, users, q)
    return result


def _attach(model: Als, dataset: Dataset, users: np.ndarray, items: np.ndarray) -> None:
    """Make ``model`` a fitted ``als`` with the given factors (the base bookkeeping of fit)."""
    model._fit = lambda ds: model._set_factors(users, items)  # type: ignore[method-assign]
    model.fit(dataset)
    del model._fit
