"""The chunked full-softmax cross-entropy equals the plain one, loss and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from trustrec.models import softmax_loss
from trustrec.models.softmax_loss import softmax_cross_entropy


@pytest.mark.parametrize("chunk_bytes", [softmax_loss.CHUNK_BYTES, 4 * 37 * 7])
def test_chunked_loss_and_gradients_equal_the_plain_cross_entropy(
        chunk_bytes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(softmax_loss, "CHUNK_BYTES", chunk_bytes)  # 7 rows: a ragged last
    gen = torch.Generator().manual_seed(0)
    hidden = (3 * torch.randn(50, 6, generator=gen)).requires_grad_()
    weight = torch.randn(37, 6, generator=gen).requires_grad_()
    targets = torch.randint(0, 37, (50,), generator=gen)
    targets[:5] = 4  # repeated targets: the weight gradient sums over their rows

    loss = softmax_cross_entropy(hidden, weight, targets)
    (2.5 * loss).backward()
    grads = hidden.grad, weight.grad
    hidden.grad, weight.grad = None, None
    expected = F.cross_entropy(hidden @ weight.T, targets)
    (2.5 * expected).backward()

    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(grads[0], hidden.grad)
    torch.testing.assert_close(grads[1], weight.grad)


def test_no_rows_give_the_plain_result() -> None:
    loss = softmax_cross_entropy(torch.zeros(0, 3), torch.ones(5, 3),
                                 torch.zeros(0, dtype=torch.long))
    assert torch.isnan(loss)  # the mean over nothing, as F.cross_entropy
