"""Smoothed int8 quantisation on a tiny attention-shaped module (no model download)."""

from __future__ import annotations

import copy
import warnings

import torch

from trustrec.text.quantize import input_ranges, smooth_quantize


def plain_int8(model: torch.nn.Module, names: set[str]) -> torch.nn.Module:
    """A copy of ``model`` with the named layers dynamically quantised, without smoothing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization warns that it is deprecated
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(copy.deepcopy(model), names, dtype=torch.qint8)


class Block(torch.nn.Module):
    """query/key/value siblings reading one input, an up- and a down-projection."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = torch.nn.Module()
        for name in ("query", "key", "value"):
            setattr(self.attn, name, torch.nn.Linear(16, 16))
        self.up = torch.nn.Linear(16, 64)
        self.down = torch.nn.Linear(64, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.attn.query(x) + self.attn.key(x) * self.attn.value(x)
        return self.down(torch.relu(self.up(a)))


def inputs(seed: int) -> torch.Tensor:
    x = torch.randn(64, 16, generator=torch.Generator().manual_seed(seed))
    x[:, 3] *= 30.0  # an outlier channel, as transformer activations have
    return x


def test_outlier_channels_are_smoothed_and_down_projections_stay_float() -> None:
    torch.manual_seed(0)
    model = Block().eval()
    with torch.no_grad():
        expected = model(inputs(1))
    plain = plain_int8(model, {"attn.query", "attn.key", "attn.value", "up"})
    ranges = input_ranges(model, lambda: model(inputs(0)))
    assert set(ranges) == {"attn.query", "attn.key", "attn.value", "up", "down"}
    assert ranges["attn.query"].argmax() == 3
    names = smooth_quantize(model, ranges)
    assert sorted(names) == ["attn.key.1", "attn.query.1", "attn.value.1", "up.1"]
    assert isinstance(model.down, torch.nn.Linear)  # left in float32
    assert not isinstance(model.up[1], torch.nn.Linear)  # now a quantised layer
    with torch.no_grad():
        got = model(inputs(1))
        unsmoothed = plain(inputs(1))

    def error(x: torch.Tensor) -> float:
        return float(torch.linalg.norm(x - expected) / torch.linalg.norm(expected))

    assert 0 < error(got) < 0.05
    assert error(got) < 0.75 * error(unsmoothed)  # 0.031 against 0.061


def test_a_model_without_quantisable_layers_is_left_alone() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(8, 2))
    ranges = input_ranges(model, lambda: model(torch.randn(4, 8)))
    assert smooth_quantize(model, ranges) == []
    assert isinstance(model[0], torch.nn.Linear)
