"""What the PyTorch models share: configuration, device, seeding, the training loop,
early stopping, the validation metric and weights ↔ artifact arrays.

The loop runs mini-batches given by the model, keeps the weights of the epoch with the best
validation score (early stopping after ``patience`` epochs without improvement), stops when
``max_seconds`` have passed, and shows a progress bar only when stderr is a terminal.
Training runs inside :func:`training_session`, which seeds torch's generators (and on CUDA
asks for deterministic algorithms) and restores them afterwards, so a fit with a fixed
``seed`` on the CPU gives the same weights bit for bit. The thread count is process-wide in
torch: it is set once when a model is fitted or loaded (:func:`use_threads`), never per
score call, which would race between a server's request threads.

Weights are stored through the model's ``_state`` as numpy arrays named ``net.<key>``,
which the artifact writes as ``.npy`` files verified by SHA-256 (no pickle).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from trustrec.errors import ConfigError, ModelError
from trustrec.models.topk import mask_seen, top_k
from trustrec.models.torch_config import TorchConfig

log = logging.getLogger(__name__)

Batch = tuple[torch.Tensor, ...]





def choose_device(device: str) -> torch.device:
    """``'auto'`` → CUDA when available, else CPU; ``'cuda'`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("parameter 'device' is 'cuda' but no CUDA device is available; "
                          "use device=auto or device=cpu")
    return torch.device(device)


def use_threads(threads: int) -> None:
    """Set torch's CPU thread count to ``threads`` (0: leave it alone).

    The setting is process-wide, so models call this once, when they are fitted or loaded,
    and never while scoring: a per-call set-and-restore races between the request threads
    of a server (one thread's restore undoes another's setting mid-call).
    """
    if threads and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@contextmanager
def _deterministic_cuda() -> Iterator[None]:
    """``torch.use_deterministic_algorithms`` (warn-only) for the block, then restored."""
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=previous_warn)


@contextmanager
def training_session(seed: int, threads: int = 0,
                     device: torch.device | None = None) -> Iterator[None]:
    """Seed torch (CPU and CUDA) for the block and set the CPU thread count (see
    :func:`use_threads`; it stays set, for the scoring that follows); on CUDA also request
    deterministic algorithms. The generators and the CUDA flag are restored afterwards.

    The CPU kernels these models use are deterministic already, and switching the flag
    costs a ~10 s import of ``torch._inductor``, so it is only set for CUDA (where cuBLAS
    and scatter kernels need it; bit-for-bit CUDA results also need
    ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` in the environment).
    """
    on_cuda = device is not None and device.type == "cuda"
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    use_threads(threads)
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        if on_cuda:
            with _deterministic_cuda():
                yield
        else:
            yield


def shuffled_batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Row indices ``0..n-1`` in a random order, cut into batches of ``batch_size``."""
    order = rng.permutation(n)
    return [order[s:s + batch_size] for s in range(0, n, batch_size)]


def ndcg_at_k(scores: np.ndarray, rows: np.ndarray, seen: sp.csr_matrix,
              relevant: sp.csr_matrix, k: int = 10) -> float:
    """Sum over ``rows`` of NDCG@k (binary relevance) of ``scores`` (len(rows), n_items),
    after masking the ``seen`` items of each row's user; ``relevant`` is indexed like ``seen``
    (row = user). Used for early stopping: full ranking, no sampled negatives."""
    block = np.array(scores, dtype=np.float32, copy=True)
    mask_seen(block, seen, rows)
    items, _ = top_k(block, k)
    rel = relevant[rows]
    hits = np.take_along_axis(rel.toarray() > 0, np.maximum(items, 0), axis=1) & (items >= 0)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discount)[np.clip(np.diff(rel.indptr), 1, k) - 1]
    return float(((hits * discount).sum(axis=1) / ideal).sum())


@dataclass
class TrainingLog:
    """What a fit did: loss and validation score per epoch, the epoch kept, why it stopped."""

    train_loss: list[float] = field(default_factory=list)
    validation: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    best_epoch: int = 0
    stopped: str = "epochs"

    @property
    def epochs(self) -> int:
        """Epochs run (the last may be cut short by the time budget)."""
        return len(self.train_loss)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (written into the model manifest)."""
        return {**asdict(self), "epochs": self.epochs}


def _progress(total: int, label: str) -> Any:
    """A rich progress bar on a terminal, else None."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import Progress

    progress = Progress(console=Console(stderr=True), transient=True)
    progress.start()
    progress.add_task(label, total=total)
    return progress


def expected_epochs(epochs: int, done: int, elapsed: float, max_seconds: float | None) -> int:
    """How many epochs the run will have made in all: ``epochs``, or fewer when the time
    budget will stop it first at the pace so far (so a progress bar's ETA is honest)."""
    if max_seconds is None or done == 0:
        return epochs
    left = max(max_seconds - elapsed, 0.0)
    return min(epochs, done + math.ceil(left / (elapsed / done)))


def train(
    module: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    epoch_batches: Callable[[int], Iterable[Batch]],
    loss_of: Callable[[Batch], torch.Tensor],
    cfg: TorchConfig,
    validate: Callable[[], float] | None = None,
    label: str = "training",
) -> TrainingLog:
    """Run up to ``cfg.epochs`` epochs of ``epoch_batches(epoch)`` minimising ``loss_of``.

    With ``validate`` (higher is better) the weights of the best epoch are restored at the
    end and training stops after ``cfg.patience`` epochs without improvement. Training also
    stops once ``cfg.max_seconds`` have passed (checked after every batch).
    """
    result = TrainingLog()
    best_score, best_state, since_best = -math.inf, None, 0
    start = time.perf_counter()
    progress = _progress(cfg.epochs, label)
    try:
        for epoch in range(cfg.epochs):
            epoch_start = time.perf_counter()
            module.train()
            total, count, out_of_time = 0.0, 0, False
            for batch in epoch_batches(epoch):
                optimizer.zero_grad(set_to_none=True)
                loss = loss_of(batch)
                loss.backward()
                optimizer.step()
                total += float(loss.detach())
                count += 1
                if cfg.max_seconds is not None and time.perf_counter() - start > cfg.max_seconds:
                    out_of_time = True
                    break
            if count == 0 or not math.isfinite(total):
                raise ModelError(f"model '{cfg.model}': training diverged or saw no data in "
                                 f"epoch {epoch + 1} (loss {total}); lower learning_rate")
            result.train_loss.append(total / count)
            result.epoch_seconds.append(time.perf_counter() - epoch_start)
            if validate is not None:
                module.eval()
                with torch.no_grad():
                    score = float(validate())
                result.validation.append(score)
                if score > best_score:
                    best_score, since_best, result.best_epoch = score, 0, epoch + 1
                    best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
                else:
                    since_best += 1
            else:
                result.best_epoch = epoch + 1
            log.info("%s epoch %d: loss %.4f%s", label, epoch + 1, result.train_loss[-1],
                     f", validation {result.validation[-1]:.4f}" if validate else "")
            if progress is not None:
                task = progress.task_ids[0]
                progress.update(task, advance=1, total=expected_epochs(
                    cfg.epochs, epoch + 1, time.perf_counter() - start, cfg.max_seconds))
            if out_of_time:
                result.stopped = "max_seconds"
                break
            if validate is not None and since_best >= cfg.patience:
                result.stopped = "early_stopping"
                break
    finally:
        if progress is not None:
            progress.stop()
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return result


def weights_to_arrays(module: torch.nn.Module) -> dict[str, np.ndarray]:
    """The module's ``state_dict`` as CPU numpy arrays named ``net.<key>``."""
    return {f"net.{k}": v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def load_weights(module: torch.nn.Module, arrays: dict[str, np.ndarray]) -> None:
    """Load ``net.<key>`` arrays (see :func:`weights_to_arrays`) into ``module``, strictly:
    a missing, extra or misshapen tensor raises ``ValueError`` (an inconsistent artifact)."""
    state = {k.removeprefix("net."): torch.from_numpy(np.ascontiguousarray(v))
             for k, v in arrays.items() if k.startswith("net.")}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"network weights do not fit the configuration: {exc}") from None
    module.eval()
