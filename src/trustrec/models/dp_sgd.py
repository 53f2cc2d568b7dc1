"""DP-SGD on Opacus' per-sample gradients, with noise and batch sampling from the OS CSPRNG.

Opacus' ``secure_mode`` needs ``torchcsprng``, which has no build for current torch; without
it Opacus draws its noise and its Poisson batches from torch's seeded pseudo-random
generators (and warns "Secure RNG turned off"). Then an attacker who knows the seed and
every other record replays both and recovers membership with certainty. This module keeps
Opacus for per-sample gradients (``GradSampleModule``), clipping (``DPOptimizer``) and the
RDP accountant, and replaces its two random parts by :mod:`trustrec.models.dp_noise`:

* the Gaussian noise: :class:`CsprngNoiseOptimizer` lets Opacus clip and sum, then adds
  CSPRNG noise of the same scale (with ``secure_mode``'s four-draw floating-point defence);
* the batches: each example joins each batch with probability ``q``, decided by CSPRNG coin
  flips (Poisson sampling, as the accountant assumes).

Nothing goes through ``PrivacyEngine``, so its warning about a pseudo-random generator is
not raised: its condition does not hold, rather than being silenced.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from opacus import GradSampleModule
from opacus.accountants import RDPAccountant
from opacus.accountants.utils import get_noise_multiplier
from opacus.optimizers import DPOptimizer

from trustrec.models.dp_noise import secure_bernoulli, secure_normal

Batch = tuple[torch.Tensor, ...]


class CsprngNoiseOptimizer(DPOptimizer):
    """Opacus' ``DPOptimizer`` whose Gaussian noise comes from ``os.urandom``."""

    def add_noise(self) -> None:
        """Sum the clipped per-sample gradients (Opacus, zero noise), then add CSPRNG noise
        of standard deviation ``noise_multiplier · max_grad_norm``."""
        multiplier, self.noise_multiplier = self.noise_multiplier, 0.0
        try:
            super().add_noise()
        finally:
            self.noise_multiplier = multiplier
        std = multiplier * self.max_grad_norm
        for p in self.params:
            noise = torch.from_numpy(secure_normal(p.grad.numel(), std))
            p.grad += noise.to(device=p.grad.device, dtype=p.grad.dtype).view_as(p.grad)


@dataclass
class DpSgd:
    """A module and optimizer made private for ``epochs`` passes over ``examples``."""

    module: GradSampleModule
    optimizer: CsprngNoiseOptimizer
    accountant: RDPAccountant
    examples: Batch
    sample_rate: float
    steps_per_epoch: int

    @classmethod
    def prepare(cls, net: torch.nn.Module, optimizer: torch.optim.Optimizer, examples: Batch,
                *, epsilon: float, delta: float, max_grad_norm: float, batch_size: int,
                epochs: int) -> DpSgd:
        """Calibrate the noise so that ``epochs`` epochs of Poisson batches of expected size
        ``batch_size`` over ``examples`` (tensors sharing their first dimension) spend
        (``epsilon``, ``delta``) under the RDP accountant, one example being the unit."""
        n = len(examples[0])
        rate = min(1.0, batch_size / n)
        steps = max(1, int(1 / rate))
        noise = get_noise_multiplier(target_epsilon=epsilon, target_delta=delta,
                                     sample_rate=rate, steps=steps * epochs, accountant="rdp")
        module = GradSampleModule(net)
        dp_optimizer = CsprngNoiseOptimizer(optimizer, noise_multiplier=noise,
                                            max_grad_norm=max_grad_norm,
                                            expected_batch_size=max(1, round(rate * n)))
        accountant = RDPAccountant()
        dp_optimizer.attach_step_hook(accountant.get_optimizer_hook_fn(sample_rate=rate))
        return cls(module, dp_optimizer, accountant, examples, rate, steps)

    def batches(self, _epoch: int = 0) -> Iterator[Batch]:
        """One epoch: ``steps_per_epoch`` Poisson batches drawn with CSPRNG coin flips."""
        n = len(self.examples[0])
        for _ in range(self.steps_per_epoch):
            chosen = torch.from_numpy(np.flatnonzero(secure_bernoulli(n, self.sample_rate)))
            yield tuple(t[chosen.to(t.device)] for t in self.examples)

    def facts(self, delta: float) -> dict[str, Any]:
        """The ε spent so far at ``delta`` and the mechanism's parameters."""
        spent = self.accountant.get_epsilon(delta) if self.accountant.history else 0.0
        return {"epsilon": float(spent) if math.isfinite(spent) else math.inf,
                "noise_multiplier": float(self.optimizer.noise_multiplier),
                "sample_rate": self.sample_rate, "accountant": self.accountant.mechanism(),
                "steps": sum(steps for _, _, steps in self.accountant.history)}
