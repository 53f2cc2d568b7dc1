"""``sasrec``: self-attentive sequential recommendation (Kang & McAuley 2018).

Each user's history is ordered by timestamp (ties, and data without timestamps, keep the
input order). A causal transformer — learned positional embeddings, ``blocks`` pre-norm
blocks of ``heads``-head self-attention and a feed-forward layer, dropout, layer norm —
reads the latest ``max_len`` items and its output at the last position, multiplied with
the (shared) item embeddings, scores every item as the next one. Sequences are left-padded;
an attention mask lets real positions see only earlier real positions (padding positions
see only themselves, so no row is fully masked and nothing becomes NaN). Dropout acts on
the embeddings and on each sub-layer's output before the residual sum (not inside
attention or the feed-forward layer: CPU random masks are costly, and these two suffice).

Training: every position of every user's history predicts the following item. Histories
longer than ``max_len`` are cut into consecutive windows of ``max_len`` targets, so all
interactions are used. ``loss=ce`` (default) is the full softmax cross-entropy over the
catalogue: the exact next-item likelihood, without sampling noise, and clearly better
than the original one-negative BCE in published re-evaluations (Klenitskiy & Vasilev,
RecSys 2023); with up to ten thousand items or so it is affordable, computed in chunks
that never build the whole logit matrix (:mod:`trustrec.models.softmax_loss`). ``negatives=n``
replaces it by a sampled softmax over ``n`` uniform negatives shared by the batch, for
large catalogues. ``loss=bce`` is the original objective (one uniform negative per
position). Early stopping: NDCG@10 (full ranking, the history's items
excluded) of predicting the latest item of a random ``validation`` share of the users from
the items before it; those items are left out of training.

``recommend`` uses each training user's latest ``max_len`` items; ``recommend_history``
takes any recent history (item indices, oldest first; values are ignored) without
retraining. ``text_init=true`` starts the item embeddings from the item-table text vectors
(:class:`trustrec.text.TextEncoder`), reduced to ``dim`` by PCA.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from trustrec.data.dataset import Dataset
from trustrec.models.base import Recommender
from trustrec.models.registry import register
from trustrec.models.softmax_loss import softmax_cross_entropy
from trustrec.models.torch_config import SasrecConfig
from trustrec.models.torch_training import (
    Batch,
    choose_device,
    load_weights,
    ndcg_at_k,
    shuffled_batches,
    train,
    training_session,
    use_threads,
    weights_to_arrays,
)


class _Block(nn.Module):
    """Pre-norm transformer block: masked multi-head self-attention, then feed-forward."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ffn = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """``x`` (B, L, d); ``allowed`` (B, 1, L, L) boolean attention mask."""
        b, length, dim = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(dim, dim=2)
        q, k, v = (t.view(b, length, self.heads, dim // self.heads).transpose(1, 2)
                   for t in (q, k, v))
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        x = x + self.drop(self.proj(att.transpose(1, 2).reshape(b, length, dim)))
        return x + self.drop(self.ffn(self.norm2(x)))


class SasrecNet(nn.Module):
    """Item + position embeddings, causal transformer blocks, final layer norm.

    Item index ``i`` is token ``i + 1``; token 0 is padding.
    """

    def __init__(self, n_items: int, dim: int, blocks: int, heads: int, max_len: int,
                 dropout: float) -> None:
        super().__init__()
        self.item = nn.Embedding(n_items + 1, dim, padding_idx=0)
        self.position = nn.Embedding(max_len, dim)
        nn.init.normal_(self.item.weight, std=dim ** -0.5)
        nn.init.normal_(self.position.weight, std=dim ** -0.5)
        with torch.no_grad():
            self.item.weight[0].zero_()
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(_Block(dim, heads, dropout) for _ in range(blocks))
        self.norm = nn.LayerNorm(dim)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """Hidden state (B, L, d) of every position of left-padded token sequences (B, L)."""
        length = seq.shape[1]
        valid = seq > 0
        x = self.item(seq) + self.position.weight[-length:][None]
        x = self.drop(x) * valid[..., None]
        eye = torch.eye(length, dtype=torch.bool, device=seq.device)
        causal = torch.ones(length, length, dtype=torch.bool, device=seq.device).tril()
        allowed = (causal[None] & (valid[:, None, :] | eye[None]))[:, None]
        for block in self.blocks:
            x = block(x, allowed) * valid[..., None]
        return self.norm(x)

    def item_vectors(self) -> torch.Tensor:
        """Output embedding (n_items, d): the item embeddings without the padding token."""
        return self.item.weight[1:]

    def item_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores of every item (…, n_items) for hidden states (…, d)."""
        return hidden @ self.item_vectors().T


# ---------------------------------------------------------------------- sequences
@dataclass(frozen=True)
class Histories:
    """Interactions sorted by user, then time (stable): items and each one's distance from
    its user's latest interaction (0 = latest)."""

    user: np.ndarray
    item: np.ndarray
    from_end: np.ndarray
    n_users: int

    @classmethod
    def of(cls, dataset: Dataset) -> Histories:
        """Order ``dataset``'s interactions by user, timestamp and input order."""
        ts = dataset.timestamp if dataset.timestamp is not None else np.zeros(len(dataset))
        order = np.lexsort((np.arange(len(dataset)), ts, dataset.user))
        return cls.from_sorted(dataset.user[order], dataset.item[order], dataset.n_users)

    @classmethod
    def from_sorted(cls, user: np.ndarray, item: np.ndarray, n_users: int) -> Histories:
        """From interactions already sorted by user, then time (distances computed here)."""
        ends = np.cumsum(np.bincount(user, minlength=n_users))
        return cls(user, item, ends[user] - 1 - np.arange(len(user)), n_users)

    def drop(self, mask: np.ndarray) -> Histories:
        """Without the interactions where ``mask`` is true (distances recomputed)."""
        keep = ~mask
        return Histories.from_sorted(self.user[keep], self.item[keep], self.n_users)

    def latest(self, max_len: int) -> np.ndarray:
        """(n_users, max_len) int32 tokens of each user's latest items, left-padded with 0."""
        out = np.zeros((self.n_users, max_len), dtype=np.int32)
        sel = self.from_end < max_len
        out[self.user[sel], max_len - 1 - self.from_end[sel]] = self.item[sel] + 1
        return out

    def windows(self, max_len: int) -> tuple[np.ndarray, np.ndarray]:
        """Training (inputs, targets), each (n_windows, max_len) int64 tokens: every item
        but a user's first is a target, its predecessor the input at the same position;
        a user's targets are cut into windows of ``max_len`` from the latest backwards."""
        pos = np.flatnonzero(self.user[1:] == self.user[:-1]) + 1
        f = self.from_end[pos]
        n_windows = np.zeros(self.n_users, dtype=np.int64)
        np.maximum.at(n_windows, self.user[pos], f // max_len + 1)
        first_row = np.cumsum(n_windows) - n_windows
        row = first_row[self.user[pos]] + f // max_len
        col = max_len - 1 - f % max_len
        inputs = np.zeros((int(n_windows.sum()), max_len), dtype=np.int64)
        targets = np.zeros_like(inputs)
        inputs[row, col] = self.item[pos - 1] + 1
        targets[row, col] = self.item[pos] + 1
        return inputs, targets

    def matrix(self, n_items: int) -> sp.csr_matrix:
        """Binary users × items matrix of these interactions."""
        m = sp.csr_matrix((np.ones(len(self.user), np.float32), (self.user, self.item)),
                          shape=(self.n_users, n_items))
        m.sum_duplicates()
        m.data[:] = 1.0
        return m


def text_embeddings(vectors: np.ndarray, dim: int, rng: np.random.Generator) -> np.ndarray:
    """Item text vectors reduced to ``dim`` by PCA and scaled like the default initialisation
    (std ``dim**-0.5``); items without text (zero rows) and missing components are random."""
    out = rng.normal(0.0, dim ** -0.5, size=(len(vectors), dim)).astype(np.float32)
    has_text = np.linalg.norm(vectors, axis=1) > 0
    if has_text.sum() < 2:
        return out
    x = vectors[has_text] - vectors[has_text].mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    reduced = x @ vt[:dim].T
    reduced *= dim ** -0.5 / max(float(reduced.std()), 1e-12)
    out[np.ix_(has_text, np.arange(reduced.shape[1]))] = reduced
    return out


# ---------------------------------------------------------------------- model
@register
class Sasrec(Recommender):
    """Causal self-attention over each user's time-ordered history; next-item scores."""

    name = "sasrec"
    config_class = SasrecConfig

    def _network(self) -> SasrecNet:
        cfg = self.config
        return SasrecNet(self.n_items_, cfg.dim, cfg.blocks, cfg.heads, cfg.max_len,
                         cfg.dropout)

    def _fit(self, dataset: Dataset) -> None:
        cfg = self.config
        self.device_ = choose_device(cfg.device)
        rng = np.random.default_rng(cfg.seed)
        histories = Histories.of(dataset)
        self.sequences_ = histories.latest(cfg.max_len)
        inner, validate = self._validation(histories, rng)
        inputs, targets = inner.windows(cfg.max_len)
        with training_session(cfg.seed, cfg.threads, self.device_):
            self.net_ = self._network()
            if cfg.text_init and dataset.items is not None:
                self._init_from_text(dataset, rng)
            self.net_.to(self.device_)
            optimizer = torch.optim.Adam(self.net_.parameters(), lr=cfg.learning_rate,
                                         weight_decay=cfg.weight_decay)
            x = torch.from_numpy(inputs).to(self.device_)
            y = torch.from_numpy(targets).to(self.device_)

            def epoch(_epoch: int) -> list[Batch]:
                return [(x[b], y[b]) for b in shuffled_batches(len(x), cfg.batch_size, rng)]

            result = train(self.net_, optimizer, epoch, self._loss, cfg, validate,
                           label="sasrec")
        self.training_: dict[str, Any] = result.to_dict()

    def _validation(self, histories: Histories,
                    rng: np.random.Generator) -> tuple[Histories, Any]:
        """Hold out the latest item of a random ``validation`` share of the users with at
        least 3 interactions; return the remaining histories and the NDCG@10 callback."""
        counts = np.bincount(histories.user, minlength=histories.n_users)
        eligible = np.flatnonzero(counts >= 3)
        n_val = round(self.config.validation * len(eligible))
        if n_val == 0:
            return histories, None
        chosen = np.zeros(histories.n_users, dtype=bool)
        chosen[rng.choice(eligible, size=min(n_val, 1000), replace=False)] = True
        held = chosen[histories.user] & (histories.from_end == 0)
        inner = histories.drop(held)
        users = histories.user[held]
        relevant = sp.csr_matrix((np.ones(len(users), np.float32), (users, histories.item[held])),
                                 shape=(histories.n_users, self.n_items_))
        seen, seqs = inner.matrix(self.n_items_), inner.latest(self.config.max_len)
        step = 256

        def validate() -> float:
            total = sum(ndcg_at_k(self._score_sequences(seqs[users[s:s + step]]),
                                  users[s:s + step], seen, relevant)
                        for s in range(0, len(users), step))
            return total / len(users)

        return inner, validate

    def use_encoder(self, encoder: Any) -> Self:
        """Use this already loaded :class:`~trustrec.text.TextEncoder` for ``text_init``
        (instead of loading one from ``encoder``/``cache_dir``); returns ``self``."""
        self._encoder = encoder
        return self

    def _init_from_text(self, dataset: Dataset, rng: np.random.Generator) -> None:
        from trustrec.text import TextEncoder

        encoder = getattr(self, "_encoder", None) or TextEncoder(
            model=self.config.encoder, cache_dir=self.config.cache_dir)
        vectors = encoder.encode_items(dataset)
        with torch.no_grad():
            self.net_.item.weight[1:] = torch.from_numpy(
                text_embeddings(vectors, self.config.dim, rng))

    def _loss(self, batch: Batch) -> torch.Tensor:
        """Softmax cross-entropy (``ce``; full, or sampled with ``negatives``) or
        one-negative BCE (``bce``) per target."""
        inputs, targets = batch
        hidden = self.net_(inputs)
        mask = targets > 0
        h, t = hidden[mask], targets[mask]
        if self.config.loss == "ce" and 0 < self.config.negatives < self.n_items_:
            neg = torch.randint(1, self.n_items_ + 1, (self.config.negatives,), device=t.device)
            pos_logit = (h * self.net_.item(t)).sum(-1, keepdim=True)
            neg_logits = (h @ self.net_.item(neg).T).masked_fill(neg[None] == t[:, None],
                                                                 float("-inf"))
            logits = torch.cat([pos_logit, neg_logits], dim=1)
            return F.cross_entropy(logits, torch.zeros(len(t), dtype=torch.long,
                                                       device=t.device))
        if self.config.loss == "ce":
            return softmax_cross_entropy(h, self.net_.item_vectors(), t - 1)
        neg = torch.randint(1, self.n_items_ + 1, t.shape, device=t.device)
        neg = torch.where(neg == t, neg % self.n_items_ + 1, neg)
        pos_logit = (h * self.net_.item(t)).sum(-1)
        neg_logit = (h * self.net_.item(neg)).sum(-1)
        return (F.binary_cross_entropy_with_logits(pos_logit, torch.ones_like(pos_logit))
                + F.binary_cross_entropy_with_logits(neg_logit, torch.zeros_like(neg_logit)))

    # ------------------------------------------------------------------ inference
    def _score_sequences(self, seqs: np.ndarray) -> np.ndarray:
        """Next-item scores (len(seqs), n_items) of left-padded token sequences."""
        with torch.no_grad():
            x = torch.from_numpy(np.asarray(seqs, dtype=np.int64)).to(self.device_)
            hidden = self.net_(x)[:, -1]
            return self.net_.item_logits(hidden).cpu().numpy()

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self._score_sequences(self.sequences_[users])

    def _score_history(self, items: np.ndarray, values: np.ndarray) -> np.ndarray:
        seq = np.zeros((1, self.config.max_len), dtype=np.int64)
        recent = items[-self.config.max_len:]
        seq[0, self.config.max_len - len(recent):] = recent.astype(np.int64) + 1
        return self._score_sequences(seq)[0]

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, np.ndarray]:
        return {**weights_to_arrays(self.net_), "sequences": self.sequences_}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.device_ = choose_device(self.config.device)
        self.sequences_ = arrays["sequences"]
        if self.sequences_.shape != (self.n_users_, self.config.max_len):
            raise ValueError(f"sequences have shape {self.sequences_.shape}, expected "
                             f"{(self.n_users_, self.config.max_len)}")
        use_threads(self.config.threads)
        self.net_ = self._network()
        load_weights(self.net_, arrays)
        self.net_.to(self.device_)

    def _manifest_extra(self) -> dict[str, Any]:
        return {"training": self.training_}

    def _load_manifest_extra(self, extra: dict[str, Any]) -> None:
        self.training_ = extra.get("training", {})
