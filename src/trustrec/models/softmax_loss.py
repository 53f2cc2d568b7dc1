"""Full-softmax cross-entropy over an output embedding, computed in row chunks.

``softmax_cross_entropy(hidden, weight, targets)`` equals
``F.cross_entropy(hidden @ weight.T, targets)`` with the same gradients (to float rounding),
but on the CPU it never builds the (rows × items) logit matrix: it takes ``CHUNK_BYTES``
of logits at a time, turns them into softmax probabilities in place and multiplies them
straight into both gradients. A chunk stays in the processor's cache and its memory is
reused, whereas the whole matrix (hundreds of MB for a batch over ten thousand items) is
freshly page-faulted, written and read back by each of the half-dozen operations of the
plain version; this is several times faster for ``sasrec``'s full softmax. The gradients
are computed during the forward pass (the loss is only ever differentiated once), so the
backward pass is a scaling. On CUDA the plain version is used: there one large kernel beats
many small ones.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

#: Size of one chunk of logits (float32), small enough to stay in a core's L2 cache.
CHUNK_BYTES = 2 << 20


class _ChunkedSoftmaxCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of ``hidden @ weight.T`` against ``targets``, gradients included."""

    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weight: torch.Tensor,
                targets: torch.Tensor) -> torch.Tensor:
        n, n_items = len(hidden), len(weight)
        chunk = max(1, CHUNK_BYTES // (4 * n_items))
        grad_hidden, grad_weight = torch.empty_like(hidden), torch.zeros_like(weight)
        log_z = hidden.new_zeros(())
        rows = torch.arange(min(chunk, n), device=hidden.device)
        for start in range(0, n, chunk):
            h, t = hidden[start:start + chunk], targets[start:start + chunk]
            p = h @ weight.T
            top = p.amax(dim=1, keepdim=True)
            p.sub_(top).exp_()
            z = p.sum(dim=1, keepdim=True)
            log_z += (z.log() + top).sum()
            p.div_(z)
            p[rows[:len(h)], t] -= 1.0  # d loss / d logits = softmax − one-hot
            torch.mm(p, weight, out=grad_hidden[start:start + chunk])
            grad_weight.addmm_(p.T, h)
        ctx.save_for_backward(grad_hidden / n, grad_weight / n)
        return (log_z - (hidden * weight[targets]).sum()) / n

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        grad_hidden, grad_weight = ctx.saved_tensors
        return grad_hidden * grad, grad_weight * grad, None


def softmax_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor,
                          targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the logits ``hidden @ weight.T`` (hidden (n, d), weight
    (n_items, d)) against class indices ``targets`` (n,); chunked on the CPU."""
    if hidden.device.type != "cpu" or len(hidden) == 0:
        return F.cross_entropy(hidden @ weight.T, targets)
    return _ChunkedSoftmaxCrossEntropy.apply(hidden, weight, targets)
