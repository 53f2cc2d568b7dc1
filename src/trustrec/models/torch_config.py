"""The configurations of the PyTorch models, in a module that does not import torch, so
that listing or checking parameters (``trustrec models``, ``create_model`` errors) stays
cheap; the models themselves live in :mod:`~trustrec.models.ncf` and
:mod:`~trustrec.models.sasrec`, the training loop in :mod:`~trustrec.models.torch_training`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

from trustrec.models.config import Config, require


@dataclass(frozen=True)
class TorchConfig(Config):
    """Training settings of every torch model: ``epochs`` (most passes over the data),
    ``batch_size``, ``learning_rate`` and ``weight_decay`` of Adam, ``validation`` (share of
    the training data held out for early stopping; 0: none, train all epochs on all data),
    ``patience`` (epochs without validation gain before stopping), ``max_seconds`` (time
    budget of the fit; None: none), ``device`` ('auto': CUDA when present, 'cpu', 'cuda'),
    ``threads`` (torch CPU threads, set for the whole process when the model is fitted or
    loaded, as torch has only a process-wide setting; scoring never changes it. 0: leave
    torch's setting alone — one is much faster for these small networks on a busy machine,
    as torch's thread barriers stall when cores are shared) and ``seed``."""

    #: Model name used in error messages.
    model: ClassVar[str] = "torch"

    epochs: int = 20
    batch_size: int = 1024
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    validation: float = 0.1
    patience: int = 3
    max_seconds: float | None = None
    device: str = "auto"
    threads: int = 1
    seed: int = 0

    def check(self) -> None:
        """Validate ranges (``ConfigError`` naming the parameter)."""
        super().check()
        name = self.model
        require(self.epochs >= 1, name, "epochs", "≥ 1", self.epochs)
        require(self.batch_size >= 1, name, "batch_size", "≥ 1", self.batch_size)
        require(math.isfinite(self.learning_rate) and self.learning_rate > 0, name,
                "learning_rate", "a finite number > 0", self.learning_rate)
        require(math.isfinite(self.weight_decay) and self.weight_decay >= 0, name,
                "weight_decay", "a finite number ≥ 0", self.weight_decay)
        require(0 <= self.validation < 1, name, "validation", "in [0, 1)", self.validation)
        require(self.patience >= 1, name, "patience", "≥ 1", self.patience)
        require(self.max_seconds is None or self.max_seconds > 0, name, "max_seconds",
                "> 0 or None", self.max_seconds)
        require(self.device in ("auto", "cpu", "cuda"), name, "device",
                "one of auto, cpu, cuda", self.device)
        require(self.threads >= 0, name, "threads", "≥ 0 (0: torch's default)", self.threads)
        require(self.seed >= 0, name, "seed", "≥ 0", self.seed)


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
        require(self.dp_epsilon == 0 or self.task == "implicit", "ncf", "task",
                "implicit when dp_epsilon > 0 (the rating task centres on the raw rating "
                "mean, which DP-SGD does not cover)", self.task)
        require(0 < self.dp_delta < 1, "ncf", "dp_delta", "in (0, 1)", self.dp_delta)
        require(math.isfinite(self.dp_max_grad_norm) and self.dp_max_grad_norm > 0, "ncf",
                "dp_max_grad_norm", "a finite number > 0", self.dp_max_grad_norm)

    def widths(self) -> list[int]:
        """``layers`` as a list of integers (empty unless it is a tuple of integers;
        ``check`` reports it)."""
        valid = isinstance(self.layers, tuple) and all(
            isinstance(w, int) and not isinstance(w, bool) for w in self.layers)
        return list(self.layers) if valid else []


@dataclass(frozen=True)
class SasrecConfig(TorchConfig):
    """``dim``: embedding size; ``blocks``, ``heads``: transformer depth and attention heads;
    ``max_len``: items of history read; ``dropout``; ``loss``: 'ce' (softmax) or 'bce'
    (one sampled negative per position); ``negatives`` (ce only): 0 for the full softmax
    over all items, n > 0 for a sampled softmax over n uniform negatives shared by the
    batch (for large catalogues); ``validation``: share of users whose latest item is
    held out for early stopping; ``text_init`` (with ``encoder``, ``cache_dir`` of the
    :class:`~trustrec.text.TextEncoder`): item embeddings start from text vectors. Training
    settings: see :class:`TorchConfig`."""

    model: ClassVar[str] = "sasrec"

    dim: int = 64
    blocks: int = 2
    heads: int = 1
    max_len: int = 50
    dropout: float = 0.2
    loss: Literal["ce", "bce"] = "ce"
    negatives: int = 0
    epochs: int = 200
    batch_size: int = 64
    learning_rate: float = 5e-3
    validation: float = 0.5
    patience: int = 20
    text_init: bool = False
    encoder: str | None = None
    cache_dir: str | None = None

    def check(self) -> None:
        """Validate ranges (``ConfigError`` naming the parameter)."""
        super().check()
        require(self.dim >= 1, "sasrec", "dim", "≥ 1", self.dim)
        require(self.blocks >= 1, "sasrec", "blocks", "≥ 1", self.blocks)
        require(self.heads >= 1 and self.dim % self.heads == 0, "sasrec", "heads",
                f"≥ 1 and a divisor of dim={self.dim}", self.heads)
        require(self.max_len >= 1, "sasrec", "max_len", "≥ 1", self.max_len)
        require(0 <= self.dropout < 1, "sasrec", "dropout", "in [0, 1)", self.dropout)
        require(self.negatives >= 0, "sasrec", "negatives", "≥ 0 (0: full softmax)",
                self.negatives)
