"""The shared torch loop's progress (with a time budget the bar's total is the epochs the
budget allows at the pace so far, not the maximum: an honest ETA) and its thread setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from trustrec.data import Dataset
from trustrec.models import Recommender, create_model
from trustrec.models.torch_training import expected_epochs


def test_expected_epochs_follow_the_time_budget() -> None:
    assert expected_epochs(200, 0, 0.0, 60.0) == 200  # nothing measured yet
    assert expected_epochs(200, 2, 10.0, None) == 200  # no budget: the maximum
    assert expected_epochs(200, 2, 10.0, 60.0) == 12  # 5 s/epoch, 50 s left → 10 more
    assert expected_epochs(8, 2, 10.0, 60.0) == 8  # the maximum comes first
    assert expected_epochs(200, 5, 70.0, 60.0) == 5  # over budget: this was the last


@pytest.mark.parametrize(("name", "params"), [
    ("sasrec", {"dim": 8, "max_len": 4, "epochs": 1, "batch_size": 16, "threads": 1}),
    ("ncf", {"factors": 4, "layers": "8,4", "epochs": 1, "batch_size": 128, "threads": 1}),
])
def test_scoring_never_changes_torchs_process_wide_threads(
        name: str, params: dict[str, Any], planted: Dataset, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The thread count is set at fit and load only: a score call that set and restored
    it would race with the other request threads of a server."""
    previous = torch.get_num_threads()
    try:
        model = create_model(name, params, seed=0).fit(planted)
        assert torch.get_num_threads() == 1  # the fit's setting stays for its scoring
        model.save(tmp_path / "m")
        torch.set_num_threads(2)  # another part of the process chose otherwise
        with monkeypatch.context() as patch:
            patch.setattr(torch, "set_num_threads", _refuse)
            model.score([0, 1])
            model.recommend([0], k=3)
            if name == "sasrec":
                model.score_history(np.array([1, 2, 3]))
        assert torch.get_num_threads() == 2
        Recommender.load(tmp_path / "m")
        assert torch.get_num_threads() == 1  # loading applies the model's setting, once
    finally:
        torch.set_num_threads(previous)


def _refuse(threads: int) -> None:
    raise AssertionError(f"torch.set_num_threads({threads}) called while scoring")
